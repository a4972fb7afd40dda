from builders.cli import run_builder
from builders.personaeval.build import BENCHMARK, add_arguments, generate

raise SystemExit(run_builder(BENCHMARK, generate, add_arguments=add_arguments))
