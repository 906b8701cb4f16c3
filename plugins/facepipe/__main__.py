import sys

from facepipe.ops.cli import main

# Airflow's plugin loader imports files under plugins/ by their file name, which
# makes this module "__main__" there too; only run when started with -m.
if __name__ == "__main__" and __spec__ is not None and __spec__.name == "facepipe.__main__":
    sys.exit(main())
