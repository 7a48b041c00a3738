"""The team's own model architecture, for the Transformers bridge: registered with
transformers' Auto classes when the module is imported.

The bridge loads checkpoints with ``AutoConfig`` and ``AutoModelFor<task>`` and never runs code
that comes with a checkpoint (``trust_remote_code`` stays off). A team whose model is its own
class declares the module that registers it, so that every worker imports it at start::

    code:
      paths: [examples/user_code]
      modules: [myteam.architectures]

and ``load_model`` then loads a checkpoint whose ``config.json`` says
``"model_type": "myteam-gpt"`` (saved from ``TeamGPTForCausalLM`` with ``save_pretrained``), as
it loads any other. Without the declared module that checkpoint is refused: its model type is
unknown.
"""

from __future__ import annotations

from pathlib import Path

from transformers import AutoConfig, AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel


class TeamGPTConfig(GPT2Config):
    """The configuration of the team's model (GPT-2's keys)."""

    model_type = "myteam-gpt"


class TeamGPTForCausalLM(GPT2LMHeadModel):
    """The team's causal language model: GPT-2's layers under the team's own name (a real team
    changes the layers here)."""

    config_class = TeamGPTConfig


AutoConfig.register(TeamGPTConfig.model_type, TeamGPTConfig)
AutoModelForCausalLM.register(TeamGPTConfig, TeamGPTForCausalLM)


def save_checkpoint(gpt2_dir: str | Path, target: str | Path) -> Path:
    """Save a ``myteam-gpt`` checkpoint into ``target`` with the weights and tokenizer of the
    GPT-2 checkpoint in ``gpt2_dir`` (the tests use the tiny one of ``build/models``)."""
    from transformers import AutoTokenizer

    source = GPT2Config.from_pretrained(str(gpt2_dir), local_files_only=True).to_dict()
    for key in ("model_type", "architectures", "transformers_version"):
        source.pop(key, None)
    model = TeamGPTForCausalLM.from_pretrained(
        str(gpt2_dir), config=TeamGPTConfig(**source), local_files_only=True
    )
    model.save_pretrained(str(target))
    AutoTokenizer.from_pretrained(str(gpt2_dir), local_files_only=True).save_pretrained(str(target))
    return Path(target)
