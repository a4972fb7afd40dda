"""ToMATO builder: theory-of-mind questions from conversations between two role-playing LLMs.

Steps, one module each (plain data in and out):
  seeds.py, personas.py, catalog.py   seed lists -> agents (balanced Big Five) -> combos
  schedule.py                          which conversations run (round-robin over combos), questions kept per one
  scenarios.py                         scenario seed -> shared scenario + two private goals (LLM, checked)
  conversation.py                      two agents alternate; thought + utterance per turn (structured output)
  rewrite.py                           first-person thought -> third-person option (program logic)
  questions.py                         question candidates and distractors (chosen under the shortcut audit)
  item_judges.py                       consistency and uniqueness judges: which candidates are kept
  false_belief.py, llm_check.py        judge verdicts (FB label, only from a fit judge), optional blind answering
  records.py, invariants.py, export.py released records, §3.2 checks, original-format export
  answer_key.py                        the answer key and audit view (positions dealt from a private salt)
  build.py                             BENCHMARK, add_arguments, generate (the wiring)
Spec: /work/shared/specs/tomato.md.
"""
