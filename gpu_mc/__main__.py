"""``python -m gpu_mc`` runs the command line."""

from gpu_mc.cli import main

main()
