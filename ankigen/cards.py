"""The vocabulary: the closed set of typed card models and the read-only table describing them.

Each kind is a frozen dataclass whose attributes are the note's fields as rendered HTML
(``""`` for an absent optional field). :data:`KINDS` maps each kind name to its
:class:`KindSpec`: the Anki field names, the question each field asks, which fields are
required, and the frozen Anki model id. Changing a model id or renaming a field breaks
every learner's collection: ``tests/test_identity.py`` pins them.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import MISSING, dataclass, fields
from types import MappingProxyType
from typing import TypeAlias

from ankigen.diagnostics import Location


@dataclass(frozen=True, slots=True)
class Metric:
    """An evaluation metric."""

    name: str
    formula: str
    measures: str
    range: str = ""
    use_when: str = ""


@dataclass(frozen=True, slots=True)
class Algorithm:
    """A SageMaker built-in algorithm."""

    name: str
    purpose: str
    learning_type: str
    training_input: str
    inference: str
    training_instances: str
    inference_instances: str
    data_layout: str = ""
    input_mode: str = ""
    channels: str = ""
    hyperparameters: str = ""
    best_practices: str = ""


@dataclass(frozen=True, slots=True)
class Hyperparameter:
    """One hyperparameter of an algorithm or model family."""

    name: str
    controls: str
    values: str = ""
    tuning: str = ""


@dataclass(frozen=True, slots=True)
class Instance:
    """An EC2/SageMaker instance family or accelerator."""

    family: str
    hardware: str
    use_for: str
    status: str = ""


@dataclass(frozen=True, slots=True)
class Service:
    """An AWS service."""

    name: str
    does: str
    inputs_outputs: str = ""
    use_for: str = ""
    not_to_confuse: str = ""
    status: str = ""


@dataclass(frozen=True, slots=True)
class Concept:
    """A term and its explanation."""

    term: str
    explanation: str
    example: str = ""
    contrast: str = ""
    contrast_with: str = ""


@dataclass(frozen=True, slots=True)
class QA:
    """A question and its answer, for facts that fit no other kind."""

    question: str
    answer: str


CardModel: TypeAlias = Metric | Algorithm | Hyperparameter | Instance | Service | Concept | QA


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
    model: type[CardModel]
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

    def card_count(self, values: tuple[str, ...]) -> int:
        """How many cards Anki makes from field values in Anki order: one per card field
        (see :attr:`card_fields`) with a value."""
        return sum(
            1
            for spec, value in zip(self.fields, values, strict=False)
            if value and spec in self.card_fields
        )

    def __reduce__(self) -> tuple[object, tuple[str]]:
        # Pickled (for the build cache and worker processes) as a reference to KINDS.
        return (_kind_named, (self.name,))

    def field_by_label(self, label: str) -> FieldSpec | None:
        """Look up a field by its label, ignoring case and repeated spaces."""
        return self.field_by_normalised_label(normalise_label(label))

    def field_by_normalised_label(self, label: str) -> FieldSpec | None:
        """Look up a field by a label already passed through :func:`normalise_label`."""
        return _FIELDS_BY_LABEL[self.name].get(label)


@functools.lru_cache(maxsize=1024)
def normalise_label(label: str) -> str:
    """Fold case and whitespace so that ``use  When`` matches ``Use when``.

    Cached: a deck writes the same few dozen labels on every note.
    """
    return " ".join(label.split()).casefold()


def _spec(
    name: str,
    title: str,
    model: type[CardModel],
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


@dataclass(frozen=True, slots=True)
class Note:
    """A validated note: a typed card model plus its identity, deck and tags."""

    key: str
    """The stable key, e.g. ``metric/f1-score``: the note's identity."""
    kind: KindSpec
    """The note's kind."""
    card: CardModel
    """The typed field values, as HTML."""
    deck: str
    """Full deck name, ``::`` separated."""
    tags: tuple[str, ...]
    """Sorted tags, including exam and kind tags."""
    location: Location
    """Where the note's key is written."""
    renamed_from: str = ""
    """The key this note had before, declared with ``- **Renamed from:**``; keeps the GUID."""

    def field_values(self) -> tuple[str, ...]:
        """Field values in Anki field order."""
        values: tuple[str, ...] = _FIELD_VALUES[self.kind.name](self.card)
        return values

    def card_count(self) -> int:
        """How many cards Anki generates: one per card field with a value."""
        return self.kind.card_count(self.field_values())


#: Each kind's field values in Anki order (a subject and a card field at least, so that
#: attrgetter gives a tuple).
assert all(len(kind.fields) >= 2 for kind in KINDS.values())
_FIELD_VALUES = {
    name: operator.attrgetter(*(f.attr for f in kind.fields)) for name, kind in KINDS.items()
}
_FIELDS_BY_LABEL: MappingProxyType[str, dict[str, FieldSpec]] = MappingProxyType(
    {name: {normalise_label(f.label): f for f in kind.fields} for name, kind in KINDS.items()}
)


def _kind_named(name: str) -> KindSpec:
    return KINDS[name]
