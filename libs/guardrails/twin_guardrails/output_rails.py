"""Output rails: run on the answer as it grows, decide what may go out now, and retract when one trips.

Checks, each with the tenant's action (`retract`, `mask`, `flag`, `off`):
- `output.pii`: PII or secrets in the answer that the caller did not send (leaked from another author's documents
  or made up by the model). Placeholders of the caller's own masked values are not PII. `mask` replaces the value
  before it goes out (the text is held back at the end of a partial word or digit run until it is complete, so a
  value is seen whole before any of it is released).
- `output.toxicity`: the toxicity detector on the sentences written so far, run before a piece is released when
  the piece holds one of the model's strongly offensive words, else at sentence ends.
- `output.malformed`: template or control tokens (`<|im_start|>`, `</s>`, `[INST]`), U+FFFD, a degenerate repetition
  loop, and at the end an empty or punctuation-only answer.
- `output.citations`: a `[n]` that points at no document of the context.

`OutputGuard.feed(piece)` returns what may be sent now and, when a check with action `retract` trips, the outcome
to retract with (the caller's stream ends with a retracted final chunk); `finish()` runs the end-of-answer checks
and releases what was held back. Checks run when the releasable text advanced by a word, toxicity at sentence ends
or every `output_check_every_chars`, so the cost per token stays small.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from twin_common.events import GuardrailOutcome

from twin_guardrails.masking import PLACEHOLDER
from twin_guardrails.observe import GuardrailMetrics, record
from twin_guardrails.pii import PiiDetector
from twin_guardrails.settings import GuardrailSettings, OutputAction, PolicyBook, TenantPolicy
from twin_guardrails.toxicity import ToxicityDetector

CITATION = re.compile(r"\[(\d{1,3})\]")
_CONTROL_TOKENS = re.compile(r"<\|[a-z_]+\|>|</s>|<s>|\[/?INST\]|<<SYS>>|\ufffd")
_TRAILING_HOLD = re.compile(r"(?:[+(]?\d[\d\s().\-+/]*|\S*)$")  # a partial word, or a run of digits and separators
_SENTENCE_END = re.compile(r"[.!?\n]\s*$")
_LOOKBACK = 96  # characters before the released point re-checked with new text (values spanning a boundary)


def _normalise_value(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return digits if len(digits) >= 7 else value.strip().lower()


def degenerate(text: str, window: int = 400) -> bool:
    """A repetition loop: the tail is one short phrase repeated many times."""
    tail = text[-window:]
    if len(tail) < 120:
        return False
    words = tail.split()
    for size in (1, 2, 3, 4):
        grams = [" ".join(words[i : i + size]) for i in range(0, len(words) - size + 1, size)]
        if len(grams) >= 12 and len(set(grams[-12:])) == 1:
            return True
    return False


@dataclass
class GuardStep:
    release: str = ""  # text that may go to the caller now (masked where the policy masks)
    retract: GuardrailOutcome | None = None  # set when the answer must be withdrawn


@dataclass
class OutputGuard:
    """One answer's output rails (made by `OutputRails.guard`)."""

    rails: OutputRails
    policy: TenantPolicy
    caller_values: set[str]
    citation_count: int | None  # None: citations are not checked (no retrieval context)
    raw: str = ""
    released: int = 0  # how much of `raw` has been released
    checked_to: int = 0
    toxicity_checked_to: int = 0
    safe_text: str = ""  # everything released, masked as released
    outcomes: list[GuardrailOutcome] = field(default_factory=list)
    _seen_bad_citations: set[int] = field(default_factory=set)
    _leaks_masked: int = 0
    retracted: GuardrailOutcome | None = None

    def feed(self, piece: str) -> GuardStep:
        if self.retracted is not None:
            return GuardStep()
        self.raw += piece
        hold = _TRAILING_HOLD.search(self.raw)
        end = hold.start() if hold else len(self.raw)
        return self._advance(end, final=False)

    def finish(self) -> GuardStep:
        if self.retracted is not None:
            return GuardStep()
        step = self._advance(len(self.raw), final=True)
        if step.retract is None:
            outcome = self._end_checks()
            if outcome is not None:
                step.retract = self._trip(outcome, self.policy.output_malformed)
        if step.retract is None:
            self._record_passes()
        return step

    @property
    def answer(self) -> str:
        """The answer as released so far (leaked values masked): what the log and the cache may hold."""
        return self.safe_text

    # --- internals ------------------------------------------------------------------------------

    def _advance(self, end: int, final: bool) -> GuardStep:
        if end <= self.released and not final:
            return GuardStep()
        window_start = max(0, self.released - _LOOKBACK)
        window = self.raw[window_start:end]
        segment_masks: list[tuple[int, int, str]] = []
        p = self.policy
        started = time.perf_counter()

        if p.output_malformed is not OutputAction.OFF and (
            _CONTROL_TOKENS.search(window) or degenerate(self.raw[:end])
        ):
            outcome = GuardrailOutcome(
                rail="output.malformed",
                decision="retract",
                latency_ms=_ms(started),
                detail="control tokens or repetition loop",
            )
            retract = self._trip(outcome, p.output_malformed)
            if retract is not None:
                return GuardStep(retract=retract)

        if p.output_pii is not OutputAction.OFF:
            t0 = time.perf_counter()
            findings = self.rails.pii.find(window, p.pii_entities, secrets=True)
            leaks = [
                f
                for f in findings
                if window_start + f.end > self.released  # not entirely in text already released
                and _normalise_value(window[f.start : f.end]) not in self.caller_values
                and not PLACEHOLDER.fullmatch(window[f.start : f.end])
            ]
            if leaks:
                kinds = ",".join(sorted({f.entity for f in leaks}))
                outcome = GuardrailOutcome(
                    rail="output.pii",
                    decision="retract",
                    score=max(f.score for f in leaks),
                    latency_ms=_ms(t0),
                    detail=kinds,
                )
                if p.output_pii is OutputAction.MASK:
                    for f in leaks:
                        start = max(window_start + f.start, self.released)
                        segment_masks.append((start, window_start + f.end, f"[REDACTED_{f.entity}]"))
                    self._leaks_masked += len(leaks)
                    self._note(outcome.model_copy(update={"decision": "mask"}))
                else:
                    retract = self._trip(outcome, p.output_pii)
                    if retract is not None:
                        return GuardStep(retract=retract)

        if p.output_citations is not OutputAction.OFF and self.citation_count is not None:
            bad = {int(n) for n in CITATION.findall(window)} - set(range(1, self.citation_count + 1))
            new_bad = bad - self._seen_bad_citations
            if new_bad:
                self._seen_bad_citations |= new_bad
                outcome = GuardrailOutcome(
                    rail="output.citations",
                    decision="retract",
                    latency_ms=_ms(started),
                    detail=f"cites {sorted(new_bad)} of {self.citation_count} sources",
                )
                retract = self._trip(outcome, p.output_citations)
                if retract is not None:
                    return GuardStep(retract=retract)

        if p.output_toxicity is not OutputAction.OFF and (
            final
            or self.rails.toxicity.has_trigger(self.raw[self.released : end])
            or _SENTENCE_END.search(self.raw[:end])
            or end - self.toxicity_checked_to >= self.rails.settings.output_check_every_chars
        ):
            t0 = time.perf_counter()
            recent = self.raw[max(0, self.toxicity_checked_to - 200) : end]
            score = self.rails.toxicity.score(recent) if recent.strip() else None
            self.toxicity_checked_to = end
            if score is not None and score.score >= self.rails.settings.toxicity_threshold:
                outcome = GuardrailOutcome(
                    rail="output.toxicity",
                    decision="retract",
                    score=score.score,
                    latency_ms=_ms(t0),
                    detail=score.rule or "classifier",
                )
                retract = self._trip(outcome, p.output_toxicity)
                if retract is not None:
                    return GuardStep(retract=retract)

        release = self._release(end, segment_masks)
        self.checked_to = end
        return GuardStep(release=release)

    def _release(self, end: int, masks: list[tuple[int, int, str]]) -> str:
        pieces, cursor = [], self.released
        for start, stop, replacement in sorted(masks):
            if start < cursor:
                continue
            pieces.append(self.raw[cursor:start])
            pieces.append(replacement)
            cursor = stop
        if cursor < end:
            pieces.append(self.raw[cursor:end])
        self.released = max(end, cursor)
        text = "".join(pieces)
        self.safe_text += text
        return text

    def _end_checks(self) -> GuardrailOutcome | None:
        if self.policy.output_malformed is OutputAction.OFF:
            return None
        stripped = self.raw.strip()
        if not stripped or not any(c.isalnum() for c in stripped):
            return GuardrailOutcome(rail="output.malformed", decision="retract", detail="empty answer")
        return None

    def _trip(self, outcome: GuardrailOutcome, action: OutputAction) -> GuardrailOutcome | None:
        """Record a tripped check; the outcome to retract with when the action is retract, else None."""
        if action is OutputAction.RETRACT:
            self.retracted = outcome
            self._note(outcome)
            return outcome
        self._note(outcome.model_copy(update={"decision": "flag"}))
        return None

    def _note(self, outcome: GuardrailOutcome) -> None:
        if any(o.rail == outcome.rail and o.decision == outcome.decision for o in self.outcomes):
            return  # one outcome per rail and decision per answer
        self.outcomes.append(outcome)
        record(self.rails.metrics, outcome)

    def _record_passes(self) -> None:
        acted = {o.rail for o in self.outcomes}
        p = self.policy
        for rail, action in (
            ("output.pii", p.output_pii),
            ("output.toxicity", p.output_toxicity),
            ("output.malformed", p.output_malformed),
            ("output.citations", p.output_citations if self.citation_count is not None else OutputAction.OFF),
        ):
            if action is not OutputAction.OFF and rail not in acted:
                self._note(GuardrailOutcome(rail=rail, decision="pass"))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


class OutputRails:
    def __init__(
        self,
        settings: GuardrailSettings | None = None,
        *,
        pii: PiiDetector | None = None,
        toxicity: ToxicityDetector | None = None,
        metrics: GuardrailMetrics | None = None,
    ):
        self.settings = settings or GuardrailSettings()
        self.policies = PolicyBook(self.settings)
        self.pii = pii or PiiDetector(self.settings)
        self.toxicity = toxicity or ToxicityDetector()
        self.metrics = metrics

    def guard(
        self,
        tenant_id: str,
        *,
        caller_values: list[str] | tuple[str, ...] = (),
        citation_count: int | None = None,
    ) -> OutputGuard | None:
        """A guard for one answer; None when the tenant's rails are off. `caller_values`: what the caller sent
        (the reverse map's values); `citation_count`: how many numbered sources the context had."""
        policy = self.policies(tenant_id)
        if not policy.enabled:
            return None
        return OutputGuard(self, policy, {_normalise_value(v) for v in caller_values}, citation_count)

    def check(
        self, answer: str, tenant_id: str, **kwargs
    ) -> tuple[str, GuardrailOutcome | None, list[GuardrailOutcome]]:
        """A whole answer at once: (text to send, retract outcome or None, all outcomes)."""
        guard = self.guard(tenant_id, **kwargs)
        if guard is None:
            return answer, None, []
        first = guard.feed(answer)
        if first.retract is not None:
            return first.release, first.retract, guard.outcomes
        last = guard.finish()
        return first.release + last.release, last.retract, guard.outcomes
