"""smspark: batch deep learning for social-media analytics on Apache Spark.

Importing the package sets ``TF_USE_LEGACY_KERAS=1`` before TensorFlow can be imported anywhere in the process
(driver, Horovod workers, Spark Python workers), because Horovod's Keras integration predates Keras 3; the
models are written with ``tf_keras``.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
