"""The vocabulary: the closed set of typed card models and the read-only table describing them.

Each kind is a frozen dataclass whose attributes are the note's fields, generic in what a
field holds: the checked Markdown of a value (``validate.py``) or its HTML (``render.py``);
``None`` for an absent optional field. :data:`KINDS` maps each kind name to its
:class:`KindSpec`: the Anki field names, the question each field asks, which fields are
required, and the frozen Anki model id. Changing a model id or renaming a field breaks
every learner's collection: ``tests/test_identity.py`` pins them.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, fields
from types import MappingProxyType
from typing import Any, Generic, TypeAlias, TypeVar

#: What a field holds: checked Markdown after validation, HTML after rendering.
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Metric(Generic[V]):
    """An evaluation metric."""

    name: V
    formula: V
    measures: V
    range: V | None = None
    use_when: V | None = None


@dataclass(frozen=True, slots=True)
class Algorithm(Generic[V]):
    """A SageMaker built-in algorithm."""

    name: V
    purpose: V
    learning_type: V
    training_input: V
    inference: V
    training_instances: V
    inference_instances: V
    data_layout: V | None = None
    input_mode: V | None = None
    channels: V | None = None
    hyperparameters: V | None = None
    best_practices: V | None = None


@dataclass(frozen=True, slots=True)
class Hyperparameter(Generic[V]):
    """One hyperparameter of an algorithm or model family."""

    name: V
    controls: V
    values: V | None = None
    tuning: V | None = None


@dataclass(frozen=True, slots=True)
class Instance(Generic[V]):
    """An EC2/SageMaker instance family or accelerator."""

    family: V
    hardware: V
    use_for: V
    status: V | None = None


@dataclass(frozen=True, slots=True)
class Service(Generic[V]):
    """An AWS service."""

    name: V
    does: V
    inputs_outputs: V | None = None
    use_for: V | None = None
    not_to_confuse: V | None = None
    status: V | None = None


@dataclass(frozen=True, slots=True)
class Concept(Generic[V]):
    """A term and its explanation."""

    term: V
    explanation: V
    example: V | None = None
    contrast: V | None = None
    contrast_with: V | None = None


@dataclass(frozen=True, slots=True)
class QA(Generic[V]):
    """A question and its answer, for facts that fit no other kind."""

    question: V
    answer: V


CardModel: TypeAlias = (
    Metric[V] | Algorithm[V] | Hyperparameter[V] | Instance[V] | Service[V] | Concept[V] | QA[V]
)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a kind: its attribute, its Anki field name and the question it asks."""

    attr: str
    """Attribute name on the card model dataclass."""
    label: str
    """Label in the Markdown source and Anki field name."""
    prompt: str
    """What the card for this field asks, after the subject ("formula?")."""
    required: bool
    """A note of this kind must give this field."""
    versus: str = ""
    """Label of the field that names what this card contrasts the subject with; the
    front then reads "subject vs counterpart: prompt"."""
    makes_card: bool = True
    """False for a field that only completes another card's front (a counterpart)."""


@dataclass(frozen=True, slots=True)
class KindSpec:
    """Everything the pipeline needs to know about one kind."""

    name: str
    """Kind name, the first segment of the key."""
    title: str
    """Human name shown quietly on cards."""
    model: type[CardModel[Any]]
    """The card model dataclass."""
    model_id: int
    """Frozen Anki note type id. Never change it."""
    fields: tuple[FieldSpec, ...]
    """All fields in Anki order; the first is the subject and makes no card of its own."""

    @property
    def subject(self) -> FieldSpec:
        """The field that names the note on every card."""
        return self.fields[0]

    @property
    def card_fields(self) -> tuple[FieldSpec, ...]:
        """The fields that each make one card when they have a value."""
        return tuple(f for f in self.fields[1:] if f.makes_card)

    def card_count(self, values: Sequence[object]) -> int:
        """How many cards Anki makes from field values in Anki order: one per card field
        (see :attr:`card_fields`) with a value."""
        return sum(
            1
            for spec, value in zip(self.fields, values, strict=False)
            if value and spec.makes_card and spec is not self.subject
        )

    def field_by_label(self, label: str) -> FieldSpec | None:
        """Look up a field by its label, ignoring case and repeated spaces."""
        return self.field_by_normalised_label(normalise_label(label))

    def field_by_normalised_label(self, label: str) -> FieldSpec | None:
        """Look up a field by a label already passed through :func:`normalise_label`."""
        return _FIELDS_BY_LABEL[self.name].get(label)


def normalise_label(label: str) -> str:
    """Fold case and whitespace so that ``use  When`` matches ``Use when``."""
    return " ".join(label.split()).casefold()


def _spec(
    name: str,
    title: str,
    model: type[CardModel[Any]],
    model_id: int,
    *specs: tuple[str, str, str] | tuple[str, str, str, str],
) -> KindSpec:
    by_attr = {f.name: f for f in fields(model)}
    counterparts = {spec[3] for spec in specs if len(spec) == 4}
    field_specs = tuple(
        FieldSpec(
            attr=spec[0],
            label=spec[1],
            prompt=spec[2],
            required=by_attr[spec[0]].default is MISSING,
            versus=spec[3] if len(spec) == 4 else "",
            makes_card=spec[1] not in counterparts,
        )
        for spec in specs
    )
    assert {f.attr for f in field_specs} == set(by_attr), f"{name}: fields out of sync"
    return KindSpec(name, title, model, model_id, field_specs)


#: The closed set of kinds. Model ids are frozen: learners' collections depend on them.
KINDS: MappingProxyType[str, KindSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            _spec(
                "metric",
                "Metric",
                Metric,
                1_711_240_001,
                ("name", "Name", ""),
                ("formula", "Formula", "formula?"),
                ("measures", "Measures", "what does it measure?"),
                ("range", "Range", "range, and is higher or lower better?"),
                ("use_when", "Use when", "when should you use it?"),
            ),
            _spec(
                "algorithm",
                "SageMaker algorithm",
                Algorithm,
                1_711_240_002,
                ("name", "Name", ""),
                ("purpose", "Purpose", "purpose and typical use cases?"),
                ("learning_type", "Learning type", "supervised or unsupervised, and problem type?"),
                ("training_input", "Training input", "training input formats and content types?"),
                ("data_layout", "Data layout", "data layout rules?"),
                ("input_mode", "Input mode", "File mode or Pipe mode?"),
                ("channels", "Channels", "training channels?"),
                ("inference", "Inference", "inference input and output formats?"),
                ("training_instances", "Training instances", "recommended training instances?"),
                ("inference_instances", "Inference instances", "recommended inference instances?"),
                ("hyperparameters", "Hyperparameters", "key hyperparameters?"),
                ("best_practices", "Best practices", "notable constraints and best practices?"),
            ),
            _spec(
                "hyperparameter",
                "Hyperparameter",
                Hyperparameter,
                1_711_240_003,
                ("name", "Name", ""),
                ("controls", "Controls", "what does it control?"),
                ("values", "Values", "range, default or typical values?"),
                ("tuning", "Tuning", "effect of raising or lowering it?"),
            ),
            _spec(
                "instance",
                "Instance",
                Instance,
                1_711_240_004,
                ("family", "Family", ""),
                ("hardware", "Hardware", "what hardware?"),
                ("use_for", "Use for", "what is it for?"),
                ("status", "Status", "still current, or replaced by what?"),
            ),
            _spec(
                "service",
                "AWS service",
                Service,
                1_711_240_005,
                ("name", "Name", ""),
                ("does", "Does", "what does it do?"),
                ("inputs_outputs", "Inputs and outputs", "inputs and outputs?"),
                ("use_for", "Use for", "typical use?"),
                ("not_to_confuse", "Not to confuse with", "not to be confused with?"),
                ("status", "Status", "current status?"),
            ),
            _spec(
                "concept",
                "Concept",
                Concept,
                1_711_240_006,
                ("term", "Term", ""),
                ("explanation", "Explanation", "what is it?"),
                ("example", "Example", "an example?"),
                ("contrast", "Contrast", "how do they differ?", "Contrast with"),
                ("contrast_with", "Contrast with", ""),
            ),
            _spec(
                "qa",
                "Question",
                QA,
                1_711_240_007,
                ("question", "Question", ""),
                ("answer", "Answer", ""),
            ),
        )
    }
)


def field_values(card: CardModel[V]) -> tuple[V | None, ...]:
    """A card model's field values in Anki field order (``None`` for an absent field)."""
    values: tuple[V | None, ...] = _FIELD_VALUES[type(card)](card)
    return values


#: Each kind's field values in Anki order (a subject and a card field at least, so that
#: attrgetter gives a tuple).
assert all(len(kind.fields) >= 2 for kind in KINDS.values())
_FIELD_VALUES: MappingProxyType[type[Any], operator.attrgetter[Any]] = MappingProxyType(
    {kind.model: operator.attrgetter(*(f.attr for f in kind.fields)) for kind in KINDS.values()}
)
_FIELDS_BY_LABEL: MappingProxyType[str, dict[str, FieldSpec]] = MappingProxyType(
    {name: {normalise_label(f.label): f for f in kind.fields} for name, kind in KINDS.items()}
)
