"""Full fine-tuning: every weight trains. The artefact is a plain Hugging Face model directory
(config.json + model.safetensors) that any tool loads as a base model."""

from pathlib import Path

from safetensors.torch import load_file


def apply(model, cfg):
    model.requires_grad_(True)
    return model


def save(model, out_dir: Path) -> None:
    model.save_pretrained(str(out_dir), safe_serialization=True)


def restore(model, out_dir: Path) -> None:
    state = load_file(str(Path(out_dir) / "model.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("lm_head.weight")]  # tied to the embeddings, saved once
    if missing or unexpected:
        raise ValueError(
            f"{out_dir}: model weights do not match the base (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    model.tie_weights()
