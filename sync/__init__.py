"""trialwatch: keep a versioned copy of ClinicalTrials.gov records and report what changed."""

__version__ = "0.1.0"
