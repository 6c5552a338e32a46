"""How weights are made: data, the training loop, artifacts and the command line (python -m train)."""
