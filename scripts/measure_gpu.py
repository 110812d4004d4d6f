"""Dev-only: measure real peak GPU memory for docs/validation.md.

Builds models from the config files under presets/models and tests/data/configs with random
weights on the GPU (no download), runs the workload, and records torch.cuda.max_memory_allocated.
Needs a CUDA GPU with torch, transformers and peft:

    python scripts/measure_gpu.py context inference training --out results.jsonl

Each line of the output is one measurement: the case, its settings, and bytes.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
import transformers

ROOT = Path(__file__).resolve().parent.parent


def load_config(name: str) -> dict[str, Any]:
    for folder in (ROOT / "presets" / "models", ROOT / "tests" / "data" / "configs"):
        path = folder / f"{name}.json"
        if path.is_file():
            data = json.loads(path.read_text())
            cfg: dict[str, Any] = data.get("config", data)
            cfg = dict(cfg)
            cfg.pop("quantization_config", None)
            cfg.pop("auto_map", None)
            return cfg
    raise FileNotFoundError(name)


def emit(out: Any, **row: Any) -> None:
    row["torch"] = torch.__version__
    row["transformers"] = transformers.__version__
    row["gpu"] = torch.cuda.get_device_name(0)
    line = json.dumps(row)
    print(line, flush=True)
    out.write(line + "\n")
    out.flush()


def build(name: str, dtype: torch.dtype, attn: str = "sdpa") -> Any:
    cfg = transformers.AutoConfig.for_model(**load_config(name))
    with torch.device("cuda"):
        model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=dtype, attn_implementation=attn)
    return model


def free() -> None:
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()


def cache_bytes(cache: Any) -> int:
    total = 0
    layers = getattr(cache, "layers", None)
    if layers is not None:
        for layer in layers:
            for attr in ("keys", "values"):
                t = getattr(layer, attr, None)
                if isinstance(t, torch.Tensor):
                    total += t.numel() * t.element_size()
        return total
    for k, v in cache:
        total += k.numel() * k.element_size() + v.numel() * v.element_size()
    return total


def context(out: Any) -> None:
    torch.cuda.init()
    free_b, total_b = torch.cuda.mem_get_info()
    emit(out, case="context", what="cuda context after init", used_bytes=total_b - free_b, total_bytes=total_b)
    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    (a @ a).sum().item()
    free_b, total_b = torch.cuda.mem_get_info()
    reserved = torch.cuda.memory_reserved()
    emit(out, case="context", what="after a bf16 matmul (cuBLAS workspace)", used_bytes=total_b - free_b,
         torch_reserved_bytes=reserved, non_torch_bytes=total_b - free_b - reserved)
    del a
    free()


INFER = [
    ("meta-llama__Llama-3.2-1B", "sdpa", [(1, 4096), (1, 16384), (8, 2048)]),
    ("meta-llama__Llama-3.2-1B", "eager", [(1, 4096)]),
    ("Qwen__Qwen2.5-1.5B", "sdpa", [(1, 4096), (4, 8192)]),
    ("meta-llama__Meta-Llama-3-8B-Instruct", "sdpa", [(1, 4096), (1, 32768), (16, 2048)]),
    ("mistralai__Mistral-7B-v0.1", "sdpa", [(1, 8192)]),
    ("google__gemma-2-9b", "sdpa", [(1, 4096)]),
    ("Qwen__Qwen3-30B-A3B", "sdpa", [(1, 4096)]),
]


# Held-out cases: models and settings that were not looked at while the formulas were written.
INFER_HELDOUT = [
    ("Qwen__Qwen3-8B", "sdpa", [(1, 8192), (4, 2048)]),
    ("microsoft__Phi-3-mini-4k-instruct", "sdpa", [(1, 2000), (2, 4000)]),
    ("google__gemma-2b", "sdpa", [(1, 4096)]),
    ("openai-community__gpt2", "sdpa", [(8, 1000)]),
    ("tiiuae__falcon-7b", "sdpa", [(1, 2048)]),
    ("Qwen__Qwen1.5-MoE-A2.7B", "sdpa", [(1, 2048)]),
    ("deepseek-ai__DeepSeek-V2-Lite", "sdpa", [(1, 2048)]),
    ("google__gemma-3-1b-pt", "sdpa", [(1, 512), (1, 8192)]),
]
TRAIN_HELDOUT = [
    ("Qwen__Qwen2.5-1.5B", "pure-bf16", 2, 2048, False, False),
    ("Qwen__Qwen2.5-1.5B", "pure-bf16", 2, 2048, True, False),
    ("openai-community__gpt2", "fp32", 8, 1024, False, False),
    ("microsoft__Phi-3-mini-4k-instruct", "lora", 1, 2048, True, True),
    ("meta-llama__Llama-3.2-1B", "amp", 8, 1024, True, False),
    ("google__gemma-2b", "pure-bf16", 2, 1024, False, False),
]


# Sliding-window models with prompts longer than the window, aligned and not to 16 tokens.
SLIDING = [
    ("mistralai__Mistral-7B-v0.1", "sdpa", [(1, 4096), (1, 8192), (1, 8200), (1, 12288), (2, 8192)]),
    ("microsoft__Phi-3-mini-4k-instruct", "sdpa", [(1, 2000), (1, 4000), (1, 4096), (2, 4096)]),
    ("google__gemma-3-1b-pt", "sdpa", [(1, 4096), (1, 8192), (1, 8200), (2, 8192)]),
]


# Second held-out set, measured after the training peak was modelled at the start of backward.
# The last field is the number of gradient-accumulation micro-steps per optimizer step.
TRAIN_HELDOUT2 = [
    ("Qwen__Qwen3-8B", "pure-bf16", 1, 1024, False, False, 1),
    ("google__gemma-3-1b-pt", "pure-bf16", 4, 512, False, False, 1),
    ("mistralai__Mistral-7B-v0.1", "lora", 2, 1024, False, True, 1),
    ("bigcode__starcoder2-3b", "pure-bf16", 2, 1024, False, False, 1),
    ("meta-llama__Llama-3.2-1B", "pure-bf16", 4, 1024, False, False, 2),
    ("Qwen__Qwen2.5-0.5B", "amp", 4, 2048, False, False, 1),
    ("microsoft__Phi-3-mini-4k-instruct", "pure-bf16", 1, 2000, True, False, 1),
]


def inference(out: Any, only: str | None, cases: list[Any] = INFER) -> None:
    for name, attn, shapes in cases:
        if only and only not in name:
            continue
        t0 = time.time()
        try:
            free()
            model = build(name, torch.bfloat16, attn).eval()
            weights = torch.cuda.memory_allocated()
            emit(out, case="weights", model=name, dtype="bf16", allocated_bytes=weights)
            vocab = model.config.get_text_config().vocab_size
            for batch, seq in shapes:
                torch.cuda.reset_peak_memory_stats()
                ids = torch.randint(0, vocab, (batch, seq), device="cuda")
                with torch.no_grad():
                    res = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=4,
                                         min_new_tokens=4, do_sample=False, pad_token_id=0,
                                         return_dict_in_generate=True)
                peak = torch.cuda.max_memory_allocated()
                reserved = torch.cuda.max_memory_reserved()
                kv = cache_bytes(res.past_key_values)
                emit(out, case="inference", model=name, attention=attn, batch=batch, seq_len=seq, new_tokens=4,
                     weights_bytes=weights, peak_allocated_bytes=peak, peak_reserved_bytes=reserved,
                     kv_cache_bytes=kv, seconds=round(time.time() - t0, 1))
                del res, ids
                free()
            del model
            free()
        except Exception as exc:  # keep going: one failure must not lose the other rows
            emit(out, case="inference", model=name, error=f"{type(exc).__name__}: {exc}"[:300])
            free()


TRAIN = [
    # name, regime, batch, seq, checkpointing, lora
    ("meta-llama__Llama-3.2-1B", "pure-bf16", 4, 1024, False, False),
    ("meta-llama__Llama-3.2-1B", "pure-bf16", 4, 1024, True, False),
    ("meta-llama__Llama-3.2-1B", "amp", 4, 1024, False, False),
    ("meta-llama__Llama-3.2-1B", "lora", 4, 1024, False, True),
    ("meta-llama__Llama-3.2-1B", "lora", 4, 1024, True, True),
    ("Qwen__Qwen2.5-0.5B", "pure-bf16", 8, 1024, False, False),
    ("Qwen__Qwen2.5-0.5B", "amp", 8, 1024, True, False),
    ("meta-llama__Meta-Llama-3-8B-Instruct", "lora", 2, 2048, True, True),
]


def training(out: Any, only: str | None, cases: list[Any] = TRAIN) -> None:
    for case in cases:
        name, regime, batch, seq, ckpt, lora = case[:6]
        accum = case[6] if len(case) > 6 else 1
        if only and only not in name:
            continue
        t0 = time.time()
        try:
            free()
            dtype = torch.float32 if regime in ("amp", "fp32") else torch.bfloat16
            model = build(name, dtype)
            model.config.use_cache = False
            if lora:
                import peft

                for p in model.parameters():
                    p.requires_grad_(False)
                if ckpt:
                    model.enable_input_require_grads()
                model = peft.get_peft_model(model, peft.LoraConfig(r=16, lora_alpha=32, target_modules="all-linear",
                                                                   lora_dropout=0.0))
            if ckpt:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.train()
            params = [p for p in model.parameters() if p.requires_grad]
            trainable = sum(p.numel() for p in params)
            opt = torch.optim.AdamW(params, lr=1e-5, foreach=False)
            vocab = model.config.get_text_config().vocab_size
            ids = torch.randint(0, vocab, (batch, seq), device="cuda")
            peak = 0
            for step in range(3):
                if step == 1:
                    torch.cuda.reset_peak_memory_stats()
                    before = torch.cuda.memory_allocated()
                for _ in range(accum):
                    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=regime == "amp"):
                        loss = model(input_ids=ids, labels=ids).loss
                    loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
            peak = torch.cuda.max_memory_allocated()
            emit(out, case="training", model=name, regime=regime, batch=batch, seq_len=seq, checkpointing=ckpt,
                 lora=lora, optimizer="adamw", trainable=trainable, grad_accum=accum,
                 allocated_before_step_bytes=before,
                 peak_allocated_bytes=peak, peak_reserved_bytes=torch.cuda.max_memory_reserved(),
                 seconds=round(time.time() - t0, 1))
            del model, opt, params, ids, loss
            free()
        except Exception as exc:
            emit(out, case="training", model=name, regime=regime, error=f"{type(exc).__name__}: {exc}"[:300])
            free()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("parts", nargs="+",
                    choices=["context", "inference", "training", "heldout", "sliding", "heldout2"])
    ap.add_argument("--out", default="results.jsonl")
    ap.add_argument("--only", default=None, help="substring of the model names to run")
    args = ap.parse_args()
    with open(args.out, "a") as out:
        for part in args.parts:
            if part == "context":
                context(out)
            elif part == "inference":
                inference(out, args.only)
            elif part == "heldout2":
                training(out, args.only, TRAIN_HELDOUT2)
            elif part == "sliding":
                inference(out, args.only, SLIDING)
            elif part == "heldout":
                inference(out, args.only, INFER_HELDOUT)
                training(out, args.only, TRAIN_HELDOUT)
            else:
                training(out, args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
