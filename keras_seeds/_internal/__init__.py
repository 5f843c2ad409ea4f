"""Every private Keras, TensorFlow and JAX name keras-seeds uses, each checked
where it is looked up and pinned by a test to the versions CI runs
(``keras``: tests/internal/test_keras_private.py)."""
