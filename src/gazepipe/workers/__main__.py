"""`python -m gazepipe.workers`: the worker supervisor, as the Procfile's `workers` process runs it."""

from gazepipe.workers.supervisor import main

main()
