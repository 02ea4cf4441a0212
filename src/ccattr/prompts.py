"""The one prompt every stage uses: training, generation and attribution see the same text.

    >>> tpl = PromptTemplate(tokenizer, system="You translate building-code clauses into rules.",
    ...                      instruction="Rule for this clause:")             # doctest: +SKIP
    >>> prefix, suffix = tpl.split("4.2.3 The clear width ...")               # doctest: +SKIP
    >>> tpl.render(clause) == prefix + clause + suffix                        # doctest: +SKIP
    True

The base model's chat template is used when it has one; otherwise a plain text layout.
The rule is tokenized separately from the prompt and appended (then the end-of-turn token),
so the rule tokens are identical whether the model is trained, generating or attributed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

_SLOT = "\x00CLAUSE\x00"


@dataclass
class PromptTemplate:
    tokenizer: Any
    system: str = "You translate building-code clauses into rules."
    instruction: str = "Rule for this clause:"

    def split(self, clause: str = _SLOT) -> tuple[str, str]:
        """Text before and after the clause in the rendered prompt."""
        text = self._render(_SLOT)
        prefix, _, suffix = text.partition(_SLOT)
        return prefix, suffix

    def render(self, clause: str) -> str:
        prefix, suffix = self.split()
        return prefix + clause + suffix

    def _render(self, clause: str) -> str:
        tok = self.tokenizer
        user = f"{self.instruction}\n{clause}"
        if getattr(tok, "chat_template", None):
            messages = [{"role": "system", "content": self.system}, {"role": "user", "content": user}]
            return tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return f"{self.system}\n\n{user}\nRule: "

    @cached_property
    def end_token_id(self) -> int:
        """Token that ends the rule: the chat turn's end (``<|im_end|>``) or EOS. Cached: building
        the vocabulary dict takes ~40 ms, and every rule encoded asks for it."""
        tok = self.tokenizer
        vocab = tok.get_vocab()
        for candidate in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>"):
            if candidate in vocab:
                return vocab[candidate]
        return tok.eos_token_id

    def encode_prompt(self, clause: str) -> list[int]:
        return self.tokenizer(self.render(clause), add_special_tokens=False)["input_ids"]

    def encode_rule(self, rule: str, end: bool = True) -> list[int]:
        ids = self.tokenizer(rule, add_special_tokens=False)["input_ids"]
        return ids + [self.end_token_id] if end else ids
