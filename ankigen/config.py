"""The build configuration: fixed layout defaults, deck naming and the exam taxonomy.

The taxonomy is the one place that knows which exams, domains and tasks exist; an
exam tag in a note is checked against it (``validate.py``) and ``ankigen stats``
reports against its weights.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

#: Top-level deck name; a file's ``deck:`` front matter names a subdeck under it.
ROOT_DECK = "AWS Machine Learning"
#: The default source folder and output folder, relative to the working directory.
DEFAULT_SOURCE_DIR = Path("cards_src")
DEFAULT_BUILD_DIR = Path("build")
#: File name stem of the full deck; per-exam decks append ``-<EXAM>``.
DECK_FILE_STEM = "aws-machine-learning"
EXAM_TAG_PREFIX = "exam"
KIND_TAG_PREFIX = "kind"
#: The tag a retired note ships with, so that learners can find and delete it.
RETIRED_TAG = "ankigen::retired"


@dataclass(frozen=True, slots=True)
class Task:
    """One task statement of an exam domain."""

    number: str
    """Dotted task number as printed in the exam guide, e.g. ``"3.5"``."""
    title: str
    """The task statement."""


@dataclass(frozen=True, slots=True)
class Domain:
    """One content domain of an exam."""

    slug: str
    """Tag segment, e.g. ``"D3-Modeling"``; starts with ``D`` and the domain number."""
    title: str
    """Domain name as printed in the exam guide."""
    weight: int
    """Percentage of scored content."""
    tasks: tuple[Task, ...]
    """Task statements, in guide order."""

    def task(self, number: str) -> Task | None:
        """Return the task with this number, or None."""
        return next((t for t in self.tasks if t.number == number), None)


@dataclass(frozen=True, slots=True)
class Exam:
    """An AWS certification exam the deck serves."""

    code: str
    """Exam code, e.g. ``"MLA-C01"``; the second tag segment."""
    title: str
    """Certification name."""
    domains: tuple[Domain, ...]
    """Content domains, in guide order."""
    retired_on: dt.date | None = None
    """Last day the exam could be taken, or None while it is offered."""
    successor: str | None = None
    """The exam that replaced it task for task: a note tagged with a task of this exam is
    tagged with the same-numbered task of the successor too."""

    def domain(self, slug: str) -> Domain | None:
        """Return the domain with this tag segment, or None."""
        return next((d for d in self.domains if d.slug == slug), None)


def _tasks(*pairs: tuple[str, str]) -> tuple[Task, ...]:
    return tuple(Task(number, title) for number, title in pairs)


_MLS_C01 = Exam(
    code="MLS-C01",
    title="AWS Certified Machine Learning - Specialty",
    retired_on=dt.date(2026, 3, 31),
    domains=(
        Domain(
            "D1-Data-Engineering",
            "Data Engineering",
            20,
            _tasks(
                ("1.1", "Create data repositories for ML"),
                ("1.2", "Identify and implement a data ingestion solution"),
                ("1.3", "Identify and implement a data transformation solution"),
            ),
        ),
        Domain(
            "D2-Exploratory-Data-Analysis",
            "Exploratory Data Analysis",
            24,
            _tasks(
                ("2.1", "Sanitize and prepare data for modeling"),
                ("2.2", "Perform feature engineering"),
                ("2.3", "Analyze and visualize data for ML"),
            ),
        ),
        Domain(
            "D3-Modeling",
            "Modeling",
            36,
            _tasks(
                ("3.1", "Frame business problems as ML problems"),
                ("3.2", "Select the appropriate model(s) for a given ML problem"),
                ("3.3", "Train ML models"),
                ("3.4", "Perform hyperparameter optimization"),
                ("3.5", "Evaluate ML models"),
            ),
        ),
        Domain(
            "D4-ML-Implementation-and-Operations",
            "Machine Learning Implementation and Operations",
            20,
            _tasks(
                (
                    "4.1",
                    "Build ML solutions for performance, availability, scalability, "
                    "resiliency, and fault tolerance",
                ),
                ("4.2", "Recommend and implement the appropriate ML services and features"),
                ("4.3", "Apply basic AWS security practices to ML solutions"),
                ("4.4", "Deploy and operationalize ML solutions"),
            ),
        ),
    ),
)

_MLA_C01 = Exam(
    code="MLA-C01",
    title="AWS Certified Machine Learning Engineer - Associate",
    # AWS's exam guide ("Comparison of MLA-C01 and MLA-C02"): MLA-C01 in use until
    # 28 September 2026, MLA-C02 from 29 September 2026, each task mapped to one task.
    retired_on=dt.date(2026, 9, 28),
    successor="MLA-C02",
    domains=(
        Domain(
            "D1-Data-Preparation",
            "Data Preparation for Machine Learning (ML)",
            28,
            _tasks(
                ("1.1", "Ingest and store data"),
                ("1.2", "Transform data and perform feature engineering"),
                ("1.3", "Ensure data integrity and prepare data for modeling"),
            ),
        ),
        Domain(
            "D2-Model-Development",
            "ML Model Development",
            26,
            _tasks(
                ("2.1", "Choose a modeling approach"),
                ("2.2", "Train and refine models"),
                ("2.3", "Analyze model performance"),
            ),
        ),
        Domain(
            "D3-Deployment-and-Orchestration",
            "Deployment and Orchestration of ML Workflows",
            22,
            _tasks(
                ("3.1", "Select deployment infrastructure based on existing architecture"),
                ("3.2", "Create and script infrastructure based on existing architecture"),
                ("3.3", "Use automated orchestration tools to set up CI/CD pipelines"),
            ),
        ),
        Domain(
            "D4-Monitoring-Maintenance-and-Security",
            "ML Solution Monitoring, Maintenance, and Security",
            24,
            _tasks(
                ("4.1", "Monitor model inference"),
                ("4.2", "Monitor and optimize infrastructure and costs"),
                ("4.3", "Secure AWS resources"),
            ),
        ),
    ),
)

_AIF_C01 = Exam(
    code="AIF-C01",
    title="AWS Certified AI Practitioner",
    domains=(
        Domain(
            "D1-AI-and-ML-Fundamentals",
            "Fundamentals of AI and ML",
            20,
            _tasks(
                ("1.1", "Explain basic AI concepts and terminologies"),
                ("1.2", "Identify practical use cases for AI"),
                ("1.3", "Describe the ML development lifecycle"),
            ),
        ),
        Domain(
            "D2-Generative-AI-Fundamentals",
            "Fundamentals of Generative AI",
            24,
            _tasks(
                ("2.1", "Explain the basic concepts of generative AI"),
                ("2.2", "Understand the capabilities and limitations of generative AI"),
                ("2.3", "Describe AWS infrastructure and technologies for generative AI"),
            ),
        ),
        Domain(
            "D3-Foundation-Model-Applications",
            "Applications of Foundation Models",
            28,
            _tasks(
                ("3.1", "Describe design considerations for applications of foundation models"),
                ("3.2", "Choose effective prompt engineering techniques"),
                ("3.3", "Describe the training and fine-tuning process for foundation models"),
                ("3.4", "Describe methods to evaluate foundation model performance"),
            ),
        ),
        Domain(
            "D4-Responsible-AI",
            "Guidelines for Responsible AI",
            14,
            _tasks(
                ("4.1", "Explain the development of AI systems that are responsible"),
                ("4.2", "Recognize the importance of transparent and explainable models"),
            ),
        ),
        Domain(
            "D5-Security-Compliance-and-Governance",
            "Security, Compliance, and Governance for AI Solutions",
            14,
            _tasks(
                ("5.1", "Explain methods to secure AI systems"),
                ("5.2", "Recognize governance and compliance regulations for AI systems"),
            ),
        ),
    ),
)

_MLA_C02 = Exam(
    code="MLA-C02",
    title="AWS Certified Machine Learning Engineer - Associate",
    domains=(
        Domain(
            "D1-Data-Preparation-for-ML-and-AI",
            "Data Preparation for ML and AI",
            28,
            _tasks(
                ("1.1", "Collect and store data"),
                ("1.2", "Perform data transformation, feature engineering, and pre-processing"),
                ("1.3", "Validate data quality and manage bias"),
            ),
        ),
        Domain(
            "D2-ML-and-FM-Development",
            "ML Model and Foundation Model (FM) Development",
            24,
            _tasks(
                ("2.1", "Choose appropriate modeling approaches for ML and AI solutions"),
                ("2.2", "Train, fine-tune, and customize models for ML and AI solutions"),
                ("2.3", "Analyze and evaluate the performance of ML and AI systems"),
            ),
        ),
        Domain(
            "D3-Deployment-and-Orchestration",
            "Deployment and Orchestration of ML and AI Workflows",
            24,
            _tasks(
                ("3.1", "Manage deployment infrastructure for ML and AI model types"),
                ("3.2", "Provision and configure resources for ML and AI workloads"),
                ("3.3", "Implement automated orchestration and CI/CD pipelines for MLOps"),
            ),
        ),
        Domain(
            "D4-Operating-Monitoring-and-Security",
            "Operating, Monitoring, and Securing ML and AI Solutions",
            24,
            _tasks(
                ("4.1", "Monitor ML and AI model inference and performance"),
                ("4.2", "Optimize and manage ML and AI infrastructure costs and performance"),
                ("4.3", "Secure ML and AI workloads and model endpoints"),
            ),
        ),
    ),
)

#: Every exam the deck knows, by code. Read-only: the taxonomy changes here only.
EXAMS: MappingProxyType[str, Exam] = MappingProxyType(
    {exam.code: exam for exam in (_MLS_C01, _MLA_C01, _MLA_C02, _AIF_C01)}
)


@functools.cache
def successor_tag(tag: str) -> str | None:
    """The successor exam's tag for an exam tag (same domain and task numbers), or None."""
    parts = tag.split("::")
    if len(parts) < 3 or parts[0] != EXAM_TAG_PREFIX:
        return None
    exam = EXAMS.get(parts[1])
    if exam is None or exam.successor is None:
        return None
    successor = EXAMS[exam.successor]
    index = next((i for i, d in enumerate(exam.domains) if d.slug == parts[2]), None)
    if index is None:
        return None
    return "::".join([EXAM_TAG_PREFIX, successor.code, successor.domains[index].slug, *parts[3:]])
