"""The sources VG Studio's science comes from, cited the same way everywhere (fix explanations, diagnostics,
the Help menu, the README). `cite(key)` gives the short form used inside a sentence."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    key: str
    short: str  # how a sentence cites it: "Tan & Lim, 2019"
    full: str  # the bibliography entry
    topic: str  # what VG Studio takes from it


REFERENCES = {r.key: r for r in (
    Reference("wu-attention", "Wu, attention mechanism",
              'Wu Nannan, "Optimization of Gradient Vanishing Problem in Deep Neural Networks Based on Attention '
              'Mechanism", The Open University of Putian, China.',
              "the attention block in every hidden layer (q, k, v; softmax(qk^T/sqrt(d_k))) and its claim that the "
              "gradient near the input stays stable"),
    Reference("causes-solutions", "“Analysis of the Causes and Solutions for Gradient Vanishing and Exploding”",
              '"Analysis of the Causes and Solutions for Gradient Vanishing and Exploding Problems in Deep '
              'Learning" (review article).',
              "the causes (decay with depth, sigmoid's derivative <= 0.25, recurrent networks) and the fixes "
              "(ReLU family, architecture, auxiliary classifiers, LSTM/GRU gates)"),
    Reference("sns-recognise", "SNS College of Technology, “Vanishing Gradient Problem”",
              'SNS College of Technology, Coimbatore, Department of Computer Science and Engineering, "Vanishing '
              'Gradient Problem" (course notes).',
              "how to recognise the problem: the loss stays flat over the epochs; the weights-vs-epochs graph "
              "stays flat"),
    Reference("tan-lim-2019", "Tan & Lim, 2019",
              'H. H. Tan and K. H. Lim, "Vanishing Gradient Mitigation with Deep Learning Neural Network '
              'Optimization", 7th International Conference on Smart Computing & Communications (ICSCC), 2019.',
              "the SDAGD optimizer (relative step length plus a truncated diagonal Hessian) and Table I: "
              "784-700xL-10 sigmoid/ReLU networks on MNIST trained with SGD and SDAGD"),
)}

# Further sources the implementation relies on (cited in docs and fix explanations).
SDAGD_2017 = ('H. H. Tan, K. H. Lim and H. G. Harno, "Stochastic diagonal approximate greatest descent in neural '
              'networks", IJCNN 2017.')
EFFICIENT_BACKPROP = 'Y. LeCun, L. Bottou, G. B. Orr and K.-R. Müller, "Efficient BackProp", 1998.'


def cite(key: str) -> str:
    """The in-sentence citation of a background source, e.g. "(Tan & Lim, 2019)"."""
    return f"({REFERENCES[key].short})"


def background_reading() -> list[str]:
    """The four background sources as bibliography lines with what each contributes (README, Help menu)."""
    return [f"{r.full} — {r.topic}." for r in REFERENCES.values()]
