"""Datasets: manifests, synthesis and rendering of training audio from MIDI."""
