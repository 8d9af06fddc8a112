"""The targets of ``smspark evaluate``: one module per model family, each ``(ctx, input_dir) -> {model: {metric:
value}}`` run on a temporary data root (see :mod:`smspark.jobs.evaluate`)."""
