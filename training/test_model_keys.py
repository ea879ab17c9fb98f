"""The torch model's parameter names and shapes equal those of tests/fixtures/sd1-tiny (a real SD1 layout).

    /usr/bin/python3 training/test_model_keys.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402
import safetensors_io  # noqa: E402

FIXTURE = os.path.join(M.__file__.rsplit("/training/", 1)[0], "tests", "fixtures", "sd1-tiny", "model.safetensors")
SCHEDULE_KEYS = {"betas", "alphas_cumprod", "alphas_cumprod_prev"}


def main():
    header, _ = safetensors_io.read_header(FIXTURE)
    header.pop("__metadata__", None)
    want = {k: tuple(v["shape"]) for k, v in header.items() if k not in SCHEDULE_KEYS}
    got = {k: tuple(v.shape) for k, v in M.StableDiffusion(M.sd1_tiny_config()).state_dict().items()}
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    wrong = sorted(k for k in set(want) & set(got) if want[k] != got[k])
    for k in missing[:20]:
        print("missing", k, want[k])
    for k in extra[:20]:
        print("extra  ", k, got[k])
    for k in wrong[:20]:
        print("shape  ", k, got[k], "want", want[k])
    ok = not (missing or extra or wrong)
    print(f"{len(got)} tensors, {'identical names and shapes' if ok else 'MISMATCH'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
