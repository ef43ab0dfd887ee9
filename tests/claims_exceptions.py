"""The one place where tests/test_claims.py is told what is not a measured claim, and what was retracted.

Everything a sentence of a notebook, README.md or benchmarks/README.md states
as a number is checked against the outputs and files it cites, except what
this file lists. Keep it short: a number that is a measurement belongs in an
output or a results file, not here.
"""
# instructor-only

from __future__ import annotations

#: Numbers of the course's definitions and settings, allowed anywhere: sizes of the data and the
#: networks, the reference's hyperparameters, the checks' thresholds. (Small bare integers, 0 to 10,
#: are counts and indices and never checked; these are the larger ones and the decimals.)
CONSTANTS: dict[float, str] = {
    784: "pixels per MNIST image (28 x 28)", 28: "MNIST image side", 255: "pixel scaling (x - 128) / 255",
    128: "pixel scaling (x - 128) / 255", 60000: "MNIST training images", 10000: "MNIST test images",
    70000: "MNIST images in all", 50000: "training images left beside a 10,000-image validation split",
    20000: "notebook 05's and 10's training subset", 2000: "the quick grid's test images", 256: "MLP1's hidden width, MLP2's second",
    512: "MLP2's first hidden width", 100: "batch size, the epoch cap, percent",
    600: "batches per epoch (60,000 / 100)", 0.01: "the reference's init std and learning rate",
    0.9: "SGD momentum", 0.5: "the reproduction tolerance (pp)", 97: "the 97 % levels of notebook 05 and the report",
    18: "the reference's configurations", 54: "18 configurations x 3 seeds", 12: "the six L2 rows x 2 losses",
    13: "candidate L2 definitions in results/l2_loss_check.md", 24: "notebook 11's runs: 4 settings x 6 margins",
    1.25: "issue #14's target for an epoch over its matrix products", 0.25: "sigma'(0) = 1/4, the largest slope of the sigmoid", 0.05: "notebook 05's learning rate; the "
    "saturation threshold sigma' < 0.05", 1.0: "a bound", 2.0: "a bound",
}

#: Derived constants: the number and the formula (Python) it comes from; the test evaluates each.
FORMULAS: dict[float, str] = {
    0.16: "0.01 * 256 ** 0.5",          # s sqrt(d) at the reference's initialisation, width 256
    0.0625: "1 / 256 ** 0.5",           # the variance-preserving std for width 256
    0.04: "0.16 / 4",                   # s sqrt(d) times sigma'(0)
    0.081: "0.9 * 0.1 * 0.9",           # (y - t) sigma' at y_t = 0.1
    0.0025: "(1 - 1 / (1 + 2.718281828459045 ** 6)) * (1 / (1 + 2.718281828459045 ** 6))",  # sigma'(-6)
    1.13: "max(0.5 * (1 + __import__('math').tanh(0.7978845608 * (z + 0.044715 * z ** 3))) + 0.5 * z * "
          "(1 - __import__('math').tanh(0.7978845608 * (z + 0.044715 * z ** 3)) ** 2) * 0.7978845608 * "
          "(1 + 3 * 0.044715 * z * z) for z in [i / 1000 for i in range(0, 4000)])",  # GELU's largest slope
    1.46: "-__import__('math').log(__import__('math').e / (__import__('math').e + 9))",  # CE floor behind sigmoid
    36: "9 * (5 - 1)",                  # the hinge floor behind a sigmoid, margin 5, 10 classes
    0.053: "1 / (1 + __import__('math').exp(2.88))",  # sigma' < 0.05 <=> sigma < 0.053 (or > 0.947)
    0.947: "1 - 1 / (1 + __import__('math').exp(2.88))",
    49.1: "2 * 60000 * (784 * 256 + 256 * 10) * 3 / 1e9 - 2 * 60000 * 784 * 256 / 1e9",  # MLP1 GFLOP/epoch
    0.039: "(2 / (784 + 512)) ** 0.5", 0.051: "(2 / (512 + 256)) ** 0.5", 0.087: "(2 / (256 + 10)) ** 0.5",
    2051: "0x803", 2049: "0x801", 88.72: "__import__('math').log(3.4028234663852886e38)",
    709.78: "__import__('math').log(1.7976931348623157e308)", 3.4e38: "3.4028234663852886e38",
    20.1: "100 * 784 * 256 / 1e6", 40.1: "2 * 100 * 784 * 256 / 1e6", 0.0001: "0.01 / 100",
    2.3026: "__import__('math').log(10)", 74: "(6 * 5 + 5) + (5 * 4 + 4) + (4 * 3 + 3)",
    203530: "784 * 256 + 256 + 256 * 10 + 10", 0.17: "-min(x / 1000 * (1 + __import__('math').erf(x / 1000 / "
    "2 ** 0.5)) / 2 for x in range(-3000, 0))",                      # the smallest value of GELU
    1e-6: "1e-6", 2e-6: "2 * 1e-6", 1e-7: "2.0 ** -23", 1e-16: "2.0 ** -53", 1e-10: "1e-16 / 1e-6",
    0.14: "100 * (0.98 * 0.02 / 10000) ** 0.5",                     # the test set's standard error near 98 %
    1e-45: "2.0 ** -149",                                             # float32's smallest subnormal
    144.4: "(2 * 60000 * (784 * 512 + 512 * 256 + 256 * 10) * 3 - 2 * 60000 * 784 * 512) / 1e9",  # MLP2
}

#: Text that is not a measured claim although it has digits: (regular expression, why). Matched in each
#: sentence before numbers are read; what matches is dropped.
EXEMPT_PATTERNS: list[tuple[str, str]] = [
    (r"\b\d{4}-\d{2}-\d{2}\b", "a date"),
    (r"\*About \d+ minutes", "a notebook's time estimate"),
    (r"\b\d+-bit\b|\b\d+(?:\.\d+){3}\b", "a word size, an IP address"),
    (r"\btested on \d+\.\d+|\bsilent for \d+ s\b", "a tested version, a configured time-out"),
    (r"(?<![\d.])\d+\s*/\s*\d+\b(?!\.\d)", "a ratio of integers (a formula: 1/4, 1/10)"),
    (r"\b\d{1,2}:\d{2}(?::\d{2})?(?:\s*[-–]\s*\d{1,2}:\d{2})?", "a time of day"),
    (r"\b(?:Python|numpy|NumPy|PyTorch|torch|matplotlib|tqdm|IPython|Linux|Debian|JupyterLab|ipywidgets|"
     r"dask|setuptools|nbval|Playwright|cgroup|Ubuntu|version)\s+v?\d+(?:\.\d+)*\+?\w*", "a version"),
    (r"\b\d+(?:-\d+){2,}\b", "an architecture (784-256-10)"),
    (r"(?i)\b(?:notebooks?|sections?|questions?|cells?|steps?|issue|item|case)"
     r"\s*#?\d+(?:\s*(?:[-–,]|and|or|to)\s*\d+)*", "a notebook, section, question or epoch index"),
    (r"#\d+", "an issue number"),
    (r"(?m)^#+\s*\d+(?:\.\d+)*\.?", "a heading's number"),
    (r"\bQ\d+\b", "a question number"),
    (r"\b\d+\s*(?:GB|GiB|MB|MiB|KB|kB|cores?|CPUs?|threads?|workers?|bits?)\b", "a machine's or a limit's size"),
    (r"\bfloat(?:16|32|64)\b|\bint(?:8|16|32|64)\b|\bx86_64\b|\bAVX-?512\b", "a type name"),
    (r"\b(?:top-)?\d+(?:st|nd|rd|th)\b", "an ordinal"),
    (r"\b\d+\s*[x×]\s*\d+\b", "a shape (28 x 28, 100 x 10)"),
]

#: Sentences found false (issue 20 and after), kept out for good: (regular expression, the evidence).
#: Each says something no number check can see; the general rules catch the rest.
KNOWN_FALSE: list[tuple[str, str]] = [
    (r"(?i)1\s*/\s*\\?sqrt\{?\(?784\)?\}?[^.]{0,80}(?:Xavier|Glorot)|(?:Xavier|Glorot)[^.]{0,80}1\s*/\s*\\?sqrt\{?\(?784",
     "issue 20, case 1: Glorot's std is sqrt(2 / (fan_in + fan_out)) (notebook 09), not 1/sqrt(784)"),
    (r"(?i)0\.01[^.]{0,60}harmless",
     "issue 20, case 1: notebook 09 prints MLP2-Sigmoid at N(0, 0.01^2) near chance for two epochs"),
    (r"(?i)(?:cap|limit), not convergence|both were still improving at the (?:100-epoch )?cap",
     "issue 20, case 2: mlp2-cross_entropy-sigmoid-seed2 stopped early at epoch 95 (results/report/runs)"),
    (r"(?i)smaller than the float32 rounding",
     "issue 20, case 3: float32 rounding near 1 is about 6e-8, far below 4.7e-4"),
    (r"(?i)larger patience(?:\s+\([^)]*\))?\s+would\s+(?:give|have\s+given)\s+a\s+better\s+model",
     "issue 20, case 4: the run above it printed 'stopped early: False'"),
    (r"(?i)only one (?:fits|gives|matches)",
     "issue 20, case 5: results/l2_loss_check.md: none of the 13 matches all 12 numbers at the best epoch"),
    (r"(?i)0\.35\s*[-–]\s*0\.42\s+for\s+its\s+Sigmoid",
     "issue 20, case 6: the reference's Sigmoid hinge rows are 0.3836 and 0.4238 (0.35 is GELU's)"),
    (r"(?i)(?:always|all) shared the (?:two )?cores with other load",
     "issue 20, case 7: grid.json: 30 of the 54 runs started at load 1.03, on an otherwise idle machine"),
    (r"(?i)reached only 30\.8\s*%",
     "issue 20, case 10: 8 epochs on 20,000 images; the full protocol gives 94.12 % (output_activation_check.md)"),
    (r"(?i)faster than PyTorch in every row",
     "issue 20, case 13: on a 2-core Intel Xeon (AVX-512, AMX) mlp_core/torch was 1.07 and 1.09 at 2 threads"),
]
