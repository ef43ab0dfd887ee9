"""At the end of every pytest run over tests/: what is written so far, notebook by notebook."""

from mlp_core import progress


def pytest_terminal_summary(terminalreporter):
    terminalreporter.section("your mlp_core, by notebook (mlp_core.progress)")
    for line in progress.progress_lines():
        terminalreporter.write_line(line)
