"""Procfile entry point of the tracker workers: `python workers/tracker.py [--workers N]`."""

from gazepipe.workers.supervisor import main

if __name__ == "__main__":
    main()
