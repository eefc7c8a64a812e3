#!/usr/bin/python3
"""Validate ONNX models with onnx.checker (full_check=True, i.e. including strict shape inference).

Usage: /usr/bin/python3 tools/scripts/check_model.py MODEL...

Prints `ok <path>` or `FAIL <path>: <message>` (one line each) on stdout.
Exit codes: 0 all ok, 1 some model failed, 2 usage error, 77 python `onnx` unavailable (CTest skip).

The loaded ModelProto is checked, never the path: with a path, onnx 1.12's full_check writes the
shape-inferred model back over the file. External data is loaded from the model's folder by onnx.load.
"""
import sys


def one_line(text):
    """Collapse a (often multi-line) checker message into one line."""
    return " ".join(str(text).split())


def main(paths):
    if not paths:
        print("usage: check_model.py MODEL...", file=sys.stderr)
        return 2
    try:
        import onnx
        import onnx.checker
    except ImportError as e:
        print(f"check_model: SKIP python onnx not available: {e}", file=sys.stderr)
        return 77
    failed = 0
    for path in paths:
        try:
            model = onnx.load(path)
            onnx.checker.check_model(model, full_check=True)
            print(f"ok {path}")
        except Exception as e:  # checker, shape-inference, protobuf and I/O errors alike
            failed += 1
            print(f"FAIL {path}: {type(e).__name__}: {one_line(e)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
