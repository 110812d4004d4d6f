"""Which module of ``vram.architectures`` builds each model_type, so that only that module is imported.

Each module keeps its own table (``FAMILIES`` of :class:`~vram.architectures.generic.Family` deltas
in ``families/``, ``BUILDERS`` elsewhere); this index lists the model_types of each,
so that a run imports the one module its config needs (start-up time). tests/test_arch_index.py
holds the index equal to the modules' own tables: a model_type added to a module must be added here.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vram.architectures._config import Cfg
    from vram.model import ModelSpec

MODULES: dict[str, tuple[str, ...]] = {
    "families.deepseek4": ("deepseek_v4",),
    "families.dsa": ("axk2", "dots3_note_text", "hy_v4", "mistral_large4_text"),
    "families.gemma": ("gemma3n_text", "gemma4_text", "gemma4_unified_text"),
    "families.inkling": ("inkling2_text", "inkling_text"),
    "families.zaya": ("zaya",),
    "families.glm4v": ("glm4v_moe_text", "glm4v_text", "glm_ocr_text"),
    "families.gpt": ("biogpt", "codegen", "cpmant", "ctrl", "gpt_neo", "gpt_neox_japanese", "gptj",
        "modernbert-decoder", "mpt", "openai-gpt", "persimmon", "xglm"),
    "families.hybrid": ("bamba", "falcon_mamba", "granitemoehybrid", "jamba", "mamba", "mamba2",
        "minimax", "nemotron_h", "olmo_hybrid", "qwen3_5_moe_text", "qwen3_5_text", "qwen3_next",
        "zamba", "zamba2"),
    "families.llama": ("apertus", "arcee", "bitnet", "cohere2", "cohere_compass_text", "cosmos3_edge_text",
        "diffllama", "doge",
        "ernie4_5", "eurobert", "exaone4", "gemma", "gemma2", "gemma3_text", "glm", "glm4", "granite",
        "granite_docling_text", "granite_swa", "hunyuan_v1_dense", "hyperclovax", "jais2", "llama",
        "ministral3", "mistral", "mllama_text_model", "moshi", "muse_glimmer_text", "nanochat", "nemotron", "olmo",
        "olmo3", "phi3", "qwen2", "qwen2_5_omni_text", "qwen2_5_vl_text", "qwen2_vl_text", "qwen3",
        "qwen3_vl_text", "seed_oss", "smollm3", "voxtral_realtime_text"),
    "families.mimo": ("mimo_v2_flash",),
    "families.moe": ("afmoe", "axk1", "beam", "cohere2_moe", "dbrx", "deepseek_v2", "deepseek_v3",
        "deepseek_v32", "dots1", "ernie4_5_moe", "exaone_moe", "flex_olmo", "flint", "glm4_moe",
        "glm4_moe_lite", "glm_moe_dsa", "gpt_oss", "granitemoe", "granitemoe_swa", "hunyuan_v1_moe",
        "hy_v3", "jetmoe", "kolibri1", "laguna", "llama4_text", "longcat_flash", "mellum",
        "minimax_m2", "minimax_m3_vl_text", "mixtral", "olmoe", "phimoe", "qwen2_moe", "qwen3_moe",
        "qwen3_omni_moe_text", "qwen3_vl_moe_text"),
    "families.recurrent": ("bailing_hybrid", "falcon_h1", "kimi_linear", "lfm2", "lfm2_moe", "lfm3"),
    "families.rnn": ("recurrent_gemma", "rwkv", "xlstm"),
    "families.vlm_text": ("molmo2_text",),
    "decoders": ("falcon", "gpt2", "gpt_bigcode"),
    "nemotron_nas": ("nemotron-nas",),
    "hrm": ("hrm_text",),
    "classic": ("bloom", "cohere", "gpt_neox", "olmo2", "opt", "phi", "stablelm", "starcoder2"),
    "encdec": ("longt5", "mt5", "t5", "umt5", "whisper"),
    "encdec_bart": ("bart", "bigbird_pegasus", "blenderbot", "blenderbot-small", "fsmt", "led",
        "m2m_100", "marian", "mbart", "mvp", "pegasus", "plbart"),
    "encdec_gemma": ("t5gemma",),
    "encdec_gemma2": ("t5gemma2",),
    "encdec_moe": ("nllb-moe", "switch_transformers"),
    "encdec_more": ("pegasus_x", "prophetnet", "trocr"),
    "encoders": ("bert", "big_bird", "camembert", "data2vec-text", "ernie", "esm", "ibert", "megatron-bert",
        "modernbert", "mra", "nystromformer", "roberta", "roberta-prelayernorm", "xlm-roberta",
        "xlm-roberta-xl", "xmod", "yoso"),
    "encoders_bert": ("albert", "distilbert", "electra", "mpnet", "roformer"),
    "encoders_deberta": ("deberta", "deberta-v2"),
    "encoders_lm": ("bert-generation", "rembert", "roc_bert", "xlm", "xlnet"),
    "multimodal": ("llava", "llava_next", "llava_next_video", "llava_onevision", "mllama", "qwen2_5_vl",
        "qwen2_vl"),
    "vlm": ("cohere_compass", "cosmos3_omni", "idefics3", "internvl", "lighton_ocr", "llama4", "mistral3",
        "mistral_large4", "qianfan_ocr", "qwen3_5", "qwen3_5_moe", "qwen3_vl", "qwen3_vl_moe", "smolvlm"),
    "vlm_deepseek": ("deepseek_vl",),
    "vlm_dots3": ("dots3_note",),
    "vlm_gemma": ("gemma3", "gemma4", "gemma4_unified", "paligemma", "shieldgemma2"),
    "vlm_glm": ("glm46v", "glm4v", "glm4v_moe", "glm_ocr", "glmga"),
    "vlm_kimi": ("kimi_k25",),
    "vlm_more": ("aya_vision", "cohere2_vision", "lfm2_vl", "video_llava", "vipllava"),
    "vlm_native": ("inkling2", "inkling_mm_model", "lfm3_vl", "minimax_m3_vl"),
    "vlm_perceiver": ("idefics2",),
    "vlm_audio": ("audioflamingo3", "glmasr", "moss_transcribe_diarize", "musicflamingo", "qwen2_5_omni_thinker",
        "qwen2_audio", "qwen3_asr", "qwen3_omni_moe_thinker", "voxtral", "voxtral_realtime"),
    "vlm_speech": ("granite_speech", "granite_speech_plus", "phi4_multimodal", "vibevoice_asr"),
    "vlm_nemo": ("nemo_speechlm",),
    "vlm_docling": ("granite_docling",),
    "vlm_minicpm": ("minicpm_ocr", "minicpmv4_6", "minicpmv4_7"),
    "vlm_muse": ("muse_glimmer",),
    "vlm_navit": ("cosmos3_edge", "exaone4_5", "hyperclovax_vision_v2", "paddleocr_vl", "video_llama_3"),
    "vlm_radio": ("nemotron_h_omni",),
    "vlm_aria": ("aria",),
    "vlm_ernie": ("ernie4_5_vl_moe",),
    "vlm_evolla": ("evolla",),
    "vlm_florence": ("florence2",),
    "vlm_fuyu": ("fuyu",),
    "vlm_git": ("git",),
    "vlm_idefics": ("idefics",),
    "vlm_janus": ("janus",),
    "vlm_kosmos": ("kosmos-2", "kosmos-2.5", "pix2struct"),
    "vlm_molmo": ("molmo2",),
    "vlm_ovis": ("ovis2",),
    "vlm_pi0": ("pi0",),
    "vlm_qformer": ("blip-2", "instructblip", "instructblipvideo"),
    "vlm_sam": ("deepseek_vl_hybrid", "got_ocr2", "pp_chart2table", "pp_formulanet"),
}

# The modules whose builders take a whole vision-language config (never a text_config).
MULTIMODAL: frozenset[str] = frozenset({"multimodal", "vlm", "vlm_aria", "vlm_audio", "vlm_deepseek",
                                        "vlm_docling", "vlm_dots3", "vlm_ernie", "vlm_evolla", "vlm_florence",
                                        "vlm_fuyu", "vlm_gemma", "vlm_git", "vlm_glm", "vlm_idefics",
                                        "vlm_janus", "vlm_kimi", "vlm_kosmos", "vlm_minicpm", "vlm_molmo",
                                        "vlm_more", "vlm_muse", "vlm_native", "vlm_navit", "vlm_nemo",
                                        "vlm_ovis", "vlm_perceiver", "vlm_pi0", "vlm_qformer", "vlm_radio",
                                        "vlm_sam", "vlm_speech"})

MODULE_OF: dict[str, str] = {t: module for module, types in MODULES.items() for t in types}


def module_of(model_type: str) -> ModuleType:
    """The module that builds ``model_type``, imported now (KeyError for a type no module lists)."""
    return importlib.import_module(f"vram.architectures.{MODULE_OF[model_type]}")


def build(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """Build by the ``BUILDERS`` entry of the module that lists ``model_type`` (not a family module)."""
    spec: ModelSpec = module_of(model_type).BUILDERS[model_type](cfg, model_type, model_id=model_id)
    return spec
