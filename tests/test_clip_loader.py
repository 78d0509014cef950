"""CLIP loading: both file formats, names from the cache, clear errors, no hard-coded sizes."""
import pytest
import torch

from sempt.clip_loader import CLIPLoadError, load_clip, resolve_clip_file


def test_state_dict_and_torchscript_give_the_same_model(tiny_clip):
    a = load_clip(tiny_clip["state_dict"], precision="fp16", device="cpu")
    b = load_clip(tiny_clip["torchscript"], precision="fp32", device="cpu")
    assert a.dtype == torch.float32  # fp16 falls back to fp32 on CPU
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.visual.input_resolution == 32


def test_name_resolves_in_the_cache_folder(tiny_clip, tmp_path, monkeypatch):
    import shutil
    shutil.copy(tiny_clip["torchscript"], tmp_path / "ViT-B-16.pt")
    monkeypatch.setenv("SEMPT_CLIP_CACHE", str(tmp_path))
    assert resolve_clip_file("ViT-B/16", download=False) == str(tmp_path / "ViT-B-16.pt")
    assert load_clip("ViT-B/16", device="cpu").visual.input_resolution == 32


def test_missing_weights_say_where_they_belong(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMPT_CLIP_CACHE", str(tmp_path))
    with pytest.raises(CLIPLoadError, match=r"expected at .*ViT-B-32.pt.*copy it to that path"):
        resolve_clip_file("ViT-B/32", download=False)
    with pytest.raises(CLIPLoadError, match="neither an existing file nor a CLIP model name"):
        resolve_clip_file("ViT-Z/99")


def test_unreadable_or_foreign_files(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(CLIPLoadError, match="Cannot read CLIP weights"):
        load_clip(str(bad))
    other = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(2)}, other)
    with pytest.raises(CLIPLoadError, match="does not look like an OpenAI CLIP checkpoint"):
        load_clip(str(other))


def test_resnet_and_wider_models_build(tmp_path):
    from sempt.testing import make_tiny_clip
    rn = make_tiny_clip(str(tmp_path / "rn"), resnet=True, torchscript=False)
    m = load_clip(rn["state_dict"])
    assert m.visual.input_resolution == 32 and m.visual.output_dim == 64
    wide = make_tiny_clip(str(tmp_path / "wide"), width=128, vision_width=128, embed_dim=96, torchscript=False)
    m = load_clip(wide["state_dict"])
    assert m.ln_final.weight.shape[0] == 128 and m.text_projection.shape == (128, 96)


def test_context_length_and_vocabulary_are_checked_at_load_time(tmp_path):
    """A checkpoint whose text tower cannot read CLIP's 77-token prompts fails when it is loaded, with what to
    change, instead of at the first text encoding ("The size of tensor a (77) must match ... (20)")."""
    from sempt.clip_loader import CONTEXT_LENGTH, VOCAB_SIZE
    from sempt.testing import make_tiny_clip
    from sempt.text_encoder import tokenize
    assert tokenize(["a photo of a cat."]).shape[1] == CONTEXT_LENGTH  # what the tokenizer really produces
    short = make_tiny_clip(str(tmp_path / "ctx20"), context_length=20, torchscript=False)["state_dict"]
    with pytest.raises(CLIPLoadError) as e:
        load_clip(short)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(short)
    assert "context length is 20 (positional_embedding has 20 rows)" in msg and "context length 77" in msg
    assert "MODEL.BACKBONE.NAME" in msg
    small = make_tiny_clip(str(tmp_path / "vocab"), vocab_size=1000, torchscript=False)["state_dict"]
    with pytest.raises(CLIPLoadError, match=rf"token embedding has 1,000 rows but CLIP's BPE tokenizer has "
                                            rf"{VOCAB_SIZE:,} tokens"):
        load_clip(small)


def test_input_resolution_is_checked_against_the_config(tiny_clip):
    assert load_clip(tiny_clip["state_dict"], input_size=(32, 32)).visual.input_resolution == 32
    with pytest.raises(CLIPLoadError, match=r"INPUT.SIZE is \(224, 224\) but the backbone .* expects 32x32 images: "
                                            r"add `INPUT.SIZE \"\(32, 32\)\"`"):
        load_clip(tiny_clip["state_dict"], input_size=(224, 224))


def test_train_py_stops_on_a_wrong_context_length_with_one_line(tmp_path, pets_root):
    from conftest import TINY_OPTS, run_train
    from sempt.testing import make_tiny_clip
    short = make_tiny_clip(str(tmp_path / "ctx20"), context_length=20, torchscript=False)["state_dict"]
    proc = run_train("--root", pets_root, "--trainer", "CoOp", "--dataset-config-file",
                     "configs/datasets/oxford_pets.yaml", "--output-dir", tmp_path / "out", "MODEL.BACKBONE.NAME",
                     short, *TINY_OPTS, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "context length is 20" in last and "size of tensor" not in proc.stderr
