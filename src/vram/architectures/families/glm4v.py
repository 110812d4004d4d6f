"""The language models of GLM-4.1V / GLM-4.5V / GLM-4.6V, as their vision-language classes build them.

- ``glm4v_text``: transformers 5.23 ``models/glm4v/modeling_glm4v.py`` (``Glm4vTextModel``): GLM-4's
  layer (fused gate_up MLP, four RMSNorms: input, post-attention, post-self-attention, post-MLP), with
  q/k/v biases always on (the class ignores ``attention_bias``) and a bias-free output projection;
  head_dim is hidden_size // num_attention_heads. GLM-4.6V (``glm46v``) reuses this text model.
- ``glm4v_moe_text``: ``models/glm4v_moe/modeling_glm4v_moe.py`` (``Glm4vMoeTextModel``): GLM-4.5's MoE
  layer (routed experts with a sigmoid router, whose score-correction bias is a buffer, shared experts, the first
  ``first_k_dense_replace`` layers dense) without q/k norms; defaults from its config class.
"""

from __future__ import annotations

from vram.architectures.generic import Family

_M = "transformers 5.23 models/{0}/modeling_{0}.py"

FAMILIES: dict[str, Family] = {
    "glm4v_text": Family(modeling=_M.format("glm4v"), fused_gate_up=True, norms_per_layer=4, qkv_bias=True,
                         o_bias=False, head_dim_floor=True,
                         defaults={"vocab_size": 151552, "hidden_size": 4096, "intermediate_size": 13696,
                                   "num_hidden_layers": 40, "num_attention_heads": 32, "num_key_value_heads": 2}),
    # GLM-OCR's text model (models/glm_ocr/modeling_glm_ocr.py): GLM-4V's layer with bias-free q/k/v.
    "glm_ocr_text": Family(modeling=_M.format("glm_ocr"), fused_gate_up=True, norms_per_layer=4, qkv_bias=False,
                           o_bias=False, head_dim_floor=True,
                           defaults={"vocab_size": 59392, "hidden_size": 1024, "intermediate_size": 4096,
                                     "num_hidden_layers": 16, "num_attention_heads": 16, "num_key_value_heads": 8}),
    "glm4v_moe_text": Family(modeling=_M.format("glm4v_moe"), qkv_bias="attention_bias", o_bias=False,
                             head_dim_floor=True,
                             defaults={"vocab_size": 151424, "hidden_size": 4096, "intermediate_size": 10944,
                                       "num_hidden_layers": 46, "num_attention_heads": 96, "num_key_value_heads": 8,
                                       "attention_bias": True, "moe_intermediate_size": 1408,
                                       "num_experts_per_tok": 8, "n_shared_experts": 1, "n_routed_experts": 128,
                                       "first_k_dense_replace": 1}),
}
