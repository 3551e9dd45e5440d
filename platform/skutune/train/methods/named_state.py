"""Save and restore a method's own parameters by name, for methods peft does not implement.

The file holds only what the method adds (adapters, biases, prefixes); the frozen base is
rebuilt from the base model directory."""

from pathlib import Path

from safetensors.torch import load_file, save_file

WEIGHTS = "method_state.safetensors"


def save_named(state: dict, out_dir: Path) -> None:
    save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(Path(out_dir) / WEIGHTS))


def restore_named(model, out_dir: Path, expected: set[str]) -> None:
    """Load the saved tensors into `model`; every name the method owns must be in the file."""
    saved = load_file(str(Path(out_dir) / WEIGHTS))
    if set(saved) != expected:
        missing, extra = sorted(expected - set(saved)), sorted(set(saved) - expected)
        raise ValueError(
            f"{out_dir}: artefact does not match the method (missing {missing[:3]}, unexpected {extra[:3]})"
        )
    model.load_state_dict(saved, strict=False)
