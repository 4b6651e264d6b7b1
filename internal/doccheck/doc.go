// Package doccheck holds the test that keeps the repository's references to documents true:
// comments, scripts and Markdown cite only documents that are in the repository, and every
// relative Markdown link, with its #section anchor, resolves (ARCHITECTURE.md, "Keeping this
// document true"). It needs nothing but the source tree.
package doccheck
