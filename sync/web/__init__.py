"""The web app (`trialwatch serve`): pages, Atom feeds and a JSON API over the read side."""
