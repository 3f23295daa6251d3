"""trialwatch's tests: unit/ (pure: no database, network or subprocess), integration/ (databases,
the fake registry, the CLI, the daemon, browsers, the web app), chaos/ (`make chaos`), support/
(fixtures and builders the tests share).

tests/ is a package, and so is each part, so that pytest (its default "prepend" import mode)
puts the checkout, not a test folder, on sys.path: tests import what they share as
`tests.support.…`, never from another test module, and no file inserts paths itself. The fake
registry and the record factory, which bench needs too, are in sync.testing.
"""
