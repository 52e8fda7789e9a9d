"""Prompt templates, versioned: the version of the template that phrased a request goes into the response and
the request log, so an answer can be traced to its wording. Change a template -> bump its version."""

from __future__ import annotations

from dataclasses import dataclass

from twin_gateway.router.intent import Intent

NO_ANSWER = "The context does not contain the answer."


@dataclass(frozen=True)
class Template:
    version: str
    system: str
    retrieval: bool  # whether the template needs context passages
    fixed_reply: str | None = None  # answered without a model call

    def messages(self, question: str, context: str, history: tuple[dict[str, str], ...] = ()) -> list[dict[str, str]]:
        system = self.system
        if self.retrieval:
            system += "\n\nContext:\n" + (context or "(no passage found)")
        return [{"role": "system", "content": system}, *history, {"role": "user", "content": question}]


GROUNDED = Template(
    version="grounded-v1",
    system=(
        "You are the user's twin: you answer from their own writing. Use only the numbered context passages "
        "below. Cite each passage you use as [n], with its number. If the passages do not contain the answer, "
        f'reply exactly "{NO_ANSWER}" and do not guess.'
    ),
    retrieval=True,
)
VOICE = Template(
    version="voice-v1",
    system=(
        "You write in the user's own voice. The numbered passages below are samples of their writing: match "
        "their tone, vocabulary and sentence length, and use their facts, never invented ones. Cite a passage "
        "as [n] when you reuse its content."
    ),
    retrieval=True,
)
SMALL_TALK = Template(
    version="small-talk-v1",
    system="You are the user's friendly writing twin. Reply briefly and warmly, in one or two sentences.",
    retrieval=False,
)
OUT_OF_SCOPE = Template(
    version="out-of-scope-v1",
    system="",
    retrieval=False,
    fixed_reply=(
        "I can only answer from your own writing (articles, posts, notes and code) or write in your voice; "
        "I cannot look up live information or act on other services."
    ),
)

TEMPLATES: dict[Intent, Template] = {
    Intent.GROUNDED_QUESTION: GROUNDED,
    Intent.WRITE_IN_VOICE: VOICE,
    Intent.SMALL_TALK: SMALL_TALK,
    Intent.OUT_OF_SCOPE: OUT_OF_SCOPE,
}
