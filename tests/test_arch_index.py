"""The architecture index (architectures/_index.py) lists exactly what each module builds, and a run
imports only the module its config needs."""

from __future__ import annotations

import importlib
import subprocess
import sys

from vram.architectures import _index


def test_index_equals_each_modules_own_table() -> None:
    for name, types in _index.MODULES.items():
        module = importlib.import_module(f"vram.architectures.{name}")
        table = module.FAMILIES if name.startswith("families.") else module.BUILDERS
        assert set(types) == set(table), name
    assert len(_index.MODULE_OF) == sum(len(t) for t in _index.MODULES.values()), "a model_type listed twice"


def test_a_llama_config_imports_no_other_family() -> None:
    code = ("import sys; from vram.architectures import spec_from_config; "
            "spec_from_config({'model_type': 'llama', 'hidden_size': 64, 'intermediate_size': 128, "
            "'num_hidden_layers': 2, 'num_attention_heads': 4, 'vocab_size': 100}, model_id='x'); "
            "print(' '.join(m for m in sys.modules if m.startswith('vram.architectures')))")
    loaded = set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                text=True).stdout.split())
    assert "vram.architectures.families.llama" in loaded
    for other in ("families.moe", "families.hybrid", "encdec", "encdec_bart", "vlm", "multimodal", "encoders"):
        assert f"vram.architectures.{other}" not in loaded
