"""Bundled-data demos: the digits data and models (``data``) and the jobs of
``keras-seeds demo`` and ``keras-seeds study`` (``jobs``)."""

from keras_seeds.demo.data import (  # noqa: F401
                                   digits_cnn,
                                   digits_data,
                                   digits_mlp,
                                   digits_xy,
                                   load_digits_split,
                                   load_digits_splits,
)
