"""`python -m rnnppo`: the same command line as the `rnnppo` console script."""

from rnnppo.cli.app import main

if __name__ == "__main__":
    main()
