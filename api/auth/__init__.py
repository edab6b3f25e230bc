"""Callers from the partnership's identity provider (OpenID Connect).

==========  =============================================================================
module      job
==========  =============================================================================
`claims`    claims -> `api.roles.Principal`, by configuration (role, subject, partners)
`jwt`       JWT access tokens as bearer tokens: issuer, audience, expiry, signature (JWKS)
`web`       the pages' sign-in: authorization code + PKCE, a signed HTTP-only session
            cookie, CSRF protection (a header that must match the session's secret)
==========  =============================================================================
"""
