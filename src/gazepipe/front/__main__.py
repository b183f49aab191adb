"""`python -m gazepipe.front`: the Procfile's front process."""

from gazepipe.front.server import main

main()
