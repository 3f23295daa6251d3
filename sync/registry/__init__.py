"""The ClinicalTrials.gov client: API v2 and the website's record-history endpoints."""
