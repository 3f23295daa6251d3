"""Test support: a fake ClinicalTrials.gov on loopback and a record factory; product code never
imports it (an import-linter contract), tests and bench do.

    fakectgov   API v2 and the history endpoints, with faults, served on 127.0.0.1
    factory     valid v2 records made to order, and the real samples (../shared/ctgov)
    big_update  the largest realistic update of a real record (1,148 sites)
    scope       a registry-scale mirror scope in seconds: bulk first versions, real updates
"""
