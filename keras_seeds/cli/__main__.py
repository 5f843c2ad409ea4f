"""``python -m keras_seeds.cli``: the ``keras-seeds`` command."""

import sys

from keras_seeds.cli import main

if __name__ == "__main__":
    sys.exit(main())
