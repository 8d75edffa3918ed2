"""A fake PyTorch for the device check's dry run: it has no CUDA, so the run
skips the PyTorch load generator instead of using a real one on the machine.
"""


class cuda:
    @staticmethod
    def is_available():
        return False
