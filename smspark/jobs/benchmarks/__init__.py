"""The targets of ``smspark bench``: one module per scorer, each ``(ctx, rows, repeat) -> results``, Spark pandas
UDFs next to the same model's ``predict`` in one plain process, same rows, same run (see :mod:`smspark.jobs.bench`)."""
