"""`python -m gazepipe`: the `gazepipe` command."""

from gazepipe.cli import main

main()
