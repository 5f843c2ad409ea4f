"""Experiment trackers: the public :class:`~keras_seeds.Tracker` protocol a
sweep reports to (``tracker``), and its adapters for TensorBoard, MLflow and
Weights & Biases."""
