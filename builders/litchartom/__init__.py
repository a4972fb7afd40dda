"""LitCharToM / EvolvTrip builder: ToM questions and temporal mental-state triples about literary
characters, on top of the shared scene layer (builders.scenes). Entry point: `python -m builders.litchartom`."""
