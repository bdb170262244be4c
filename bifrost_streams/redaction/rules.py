"""The built-in redaction rules, as data: a kind, a regex, the keywords one of which must be in
the text for the rule to run (lower case; none: always), an optional validator, and examples
that must be redacted (the secret between ⟦ and ⟧) and must not be.

Vendor token shapes follow the public rule lists of gitleaks and detect-secrets; the regexes
are our own. Every quantifier that can meet a long run is possessive or bounded, and a rule
that scans a run starts only at its boundary (a look-behind), so no rule backtracks.
"""
from __future__ import annotations

import re
from typing import List

from .keys import KEYWORDS as KEY_WORDS
from .rule import Rule

_TOKEN = "[A-Za-z0-9_-]"
_E = r"(?![A-Za-z0-9_-])"


def _token(kind: str, prefixes: str, rest: str, hit: str, miss: str = "") -> Rule:
    """A vendor token: one of the literal prefixes (space-separated) at a token boundary, then
    `rest`. The regex starts with the literal, so the engine finds candidates by a fast
    substring search; the boundary is checked after it, by a look-behind per prefix (a token
    does not start inside another one)."""
    words = prefixes.split()
    pattern = ("(?:" + "|".join(re.escape(word) for word in words) + ")"
               + "".join(f"(?<!{_TOKEN}{re.escape(word)})" for word in words) + rest)
    return Rule(kind, pattern, tuple(sorted({word.lower() for word in words})), hits=(hit,),
                misses=(miss,) if miss else ())


RULES: List[Rule] = [
    Rule("private_key",
         r"(?s)-----BEGIN (?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY(?: BLOCK)?-----.*?"
         r"(?:-----END [A-Z0-9 ]{0,60}+-----|\Z)", ("private key",),
         hits=("key ⟦-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----⟧ ok",
               "⟦-----BEGIN PGP PRIVATE KEY BLOCK-----\\nlQOYBF\\n"
               "-----END PGP PRIVATE KEY BLOCK-----⟧",
               "cut ⟦-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk⟧"),
         misses=("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
                 "could not load private key from file")),
    Rule("jwt", r"eyJ(?<!" + _TOKEN + r"eyJ)[A-Za-z0-9_-]{6,}+\.eyJ[A-Za-z0-9_-]{4,}+"
         r"\.[A-Za-z0-9_-]*+", ("eyj",),
         hits=("rejected ⟦eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.dozjgNryP4J3jVmNHl0w5N_X⟧ x",),
         misses=("eyJ is how a JSON object starts in base64",)),
    Rule("aws_access_key", r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|A3T[A-Z0-9])"
         r"(?<![A-Z0-9]....)[A-Z0-9]{16}(?![A-Z0-9])",
         ("akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "aipa", "a3t"),
         hits=("denied for ⟦AKIAIOSFODNN7EXAMPLE⟧ in us-east-1",),
         misses=("region Asia/Seoul", "AKIA123", "XAKIAIOSFODNN7EXAMPLE")),
    _token("github_token", "ghp_ gho_ ghu_ ghs_ ghr_", r"[A-Za-z0-9]{36,255}+",
           "clone with ⟦ghp_" + "a1B2" * 9 + "⟧ failed", "ghp_short"),
    _token("github_token", "github_pat_", r"[A-Za-z0-9_]{22,255}+",
           "⟦github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz⟧", "github_pat_x"),
    _token("gitlab_token", "glpat- glptt- gldt- glft- glimt- glsoat- glcbt- glagent- glrt-",
           r"[A-Za-z0-9_-]{20,}+", "PRIVATE-TOKEN: ⟦glpat-AbCdEf0123456789xyzQ⟧", "glpat-short"),
    _token("gitlab_token", "GR1348941", r"[A-Za-z0-9_-]{20,}+",
           "⟦GR1348941abcdefghijklmnopqrst⟧", "GR1348941x"),
    _token("slack_token", "xoxa- xoxb- xoxp- xoxo- xoxs- xoxr- xoxe-", r"[A-Za-z0-9-]{10,}+",
           "⟦xoxb-123456789012-abcdefghijkl⟧", "xoxb-1"),
    _token("slack_token", "xapp- xoxe.", r"[A-Za-z0-9.-]{12,}+",
           "socket mode with ⟦xapp-1-A0123BCDE-4567890123-abcdef0123⟧", "xapp-1"),
    Rule("slack_webhook", r"https://hooks\.slack\.com/(?:services|workflows|triggers)/"
         r"[A-Za-z0-9/_-]++", ("hooks.slack.com",),
         hits=("post to ⟦https://hooks.slack.com/services/T000/B000/XXXXXXXX⟧ failed",),
         misses=("see https://api.slack.com/messaging/webhooks",)),
    Rule("discord_webhook", r"/api/webhooks/(?<=discord\.com/api/webhooks/)\d++/"
         r"(?P<secret>[A-Za-z0-9_-]++)", ("discord",),
         hits=("https://discord.com/api/webhooks/123456/⟦AbC-dEf_123⟧ 404",),
         misses=("https://discord.com/developers",)),
    _token("stripe_key", "sk_live_ sk_test_ rk_live_ rk_test_ pk_live_ pk_test_",
           r"[A-Za-z0-9]{16,}+", "charge with ⟦sk_live_4eC39HqLyjWDarjtT1zdp7dc⟧",
           "sk_live_short"),
    _token("stripe_key", "whsec_", r"[A-Za-z0-9]{24,}+",
           "⟦whsec_abcdefghijklmnopqrstuvwx0123⟧", "whsec_x"),
    _token("google_api_key", "AIza", r"[0-9A-Za-z_-]{35}" + _E,
           "maps key=⟦AIzaSyA1234567890abcdefghijklmnopqrstuv⟧", "AIza too short"),
    _token("google_oauth_token", "ya29.", r"[0-9A-Za-z_-]{20,}+",
           "token ⟦ya29.a0AfH6SMBx1234567890abcdefXYZ⟧ expired", "ya29."),
    _token("google_oauth_token", "GOCSPX-", r"[A-Za-z0-9_-]{28}" + _E,
           "⟦GOCSPX-abcdefghijklmnopqrstuvwx0123⟧", "GOCSPX-x"),
    _token("anthropic_key", "sk-ant-", r"(?:api|admin)\d\d-[A-Za-z0-9_-]{20,}+",
           "⟦sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345⟧", "sk-ant-"),
    _token("openai_key", "sk-", r"(?:proj-|svcacct-|admin-)?+[A-Za-z0-9_-]{20,}+",
           "⟦sk-proj-abcdefghijklmnopqrstuvwxyz0123456789⟧ rejected", "task-runner-for-jobs-x"),
    _token("npm_token", "npm_", r"[A-Za-z0-9]{36}" + _E,
           "//registry.npmjs.org/:_authToken=⟦npm_abcdefghijklmnopqrstuvwxyz0123456789⟧",
           "npm_config_cache"),
    _token("pypi_token", "pypi-AgEIcHlwaS5vcmc", r"[A-Za-z0-9_-]{40,}+",
           "⟦pypi-AgEIcHlwaS5vcmc" + "Ab1-" * 12 + "⟧", "pypi-AgEIcHlwaS5vcmc"),
    _token("sendgrid_key", "SG.", r"[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}" + _E,
           "⟦SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG⟧",
           "SG.short.key"),
    _token("twilio_key", "SK AC", r"[0-9a-f]{32}" + _E,
           "⟦SK0123456789abcdef0123456789abcdef⟧", "SKU 0123456789"),
    _token("mailgun_key", "key-", r"[0-9a-f]{32}" + _E,
           "api:⟦key-0123456789abcdef0123456789abcdef⟧", "key-value store"),
    # The secret ends in a literal: found by it, the part before is read by a look-behind.
    Rule("mailchimp_key", r"-us(?<=(?<![0-9a-f])(?P<lead>[0-9a-f]{32})-us)\d{1,2}+(?!\d)",
         ("-us",),
         hits=("⟦0123456789abcdef0123456789abcdef-us12⟧",), misses=("deployed to -us1",)),
    _token("vault_token", "hvs. hvb. hvr.", r"[A-Za-z0-9_-]{24,}+",
           "X-Vault-Token: ⟦hvs.CAESIJ0123456789abcdefghijklmnop⟧", "hvs.short"),
    Rule("terraform_token", r"\.atlasv1\.(?<=(?<![A-Za-z0-9])(?P<lead>[A-Za-z0-9]{14})\.atlasv1\.)"
         r"[A-Za-z0-9_=-]{60,}+", ("atlasv1",),
         hits=("⟦abcdefghij0123.atlasv1." + "Ab1=" * 16 + "⟧",), misses=("x.atlasv1.y",)),
    _token("shopify_token", "shpat_ shpss_ shpca_ shppa_", r"[a-fA-F0-9]{32}" + _E,
           "⟦shpat_0123456789abcdef0123456789abcdef⟧", "shpat_x"),
    _token("docker_token", "dckr_pat_", r"[A-Za-z0-9_-]{27,}+",
           "login ⟦dckr_pat_abcdefghijklmnopqrstuvwxyz0⟧", "dckr_pat_x"),
    _token("digitalocean_token", "dop_v1_ doo_v1_ dor_v1_", r"[a-f0-9]{64}" + _E,
           "⟦dop_v1_" + "0123456789abcdef" * 4 + "⟧", "dop_v1_x"),
    Rule("discord_token", r"[MNO](?<![A-Za-z0-9_-].)[A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\."
         r"[A-Za-z0-9_-]{27,38}" + _E, ("discord", "bot"),
         hits=("discord Bot ⟦MTAxMjM0NTY3ODkwMTIzNDU2.GaBcDe.abcdefghijklmnopqrstuvwxyz0⟧",),
         misses=("discord M.x.y",)),
    Rule("telegram_token", r":(?<=\d:)(?P<secret>AA[A-Za-z0-9_-]{33})" + _E, (":aa",),
         hits=("bot123456789:⟦AAabcdefghijklmnopqrstuvwxyz0123456⟧/sendMessage",),
         misses=("at 10:AA",)),
    _token("atlassian_token", "ATATT3", r"[A-Za-z0-9_=-]{100,}+",
           "⟦ATATT3" + "xFfGF0" * 18 + "⟧", "ATATT3 short"),
    _token("atlassian_token", "ATBB", r"[A-Za-z0-9]{28,}+", "⟦ATBB" + "aB3d" * 8 + "⟧",
           "ATBB short"),
    _token("linear_key", "lin_api_ lin_oauth_", r"[A-Za-z0-9]{40}" + _E,
           "⟦lin_api_" + "aB3d" * 10 + "⟧", "lin_api_x"),
    _token("postman_key", "PMAK-", r"[a-f0-9]{24}-[a-f0-9]{34}" + _E,
           "⟦PMAK-0123456789abcdef01234567-0123456789abcdef0123456789abcdef01⟧", "PMAK-x"),
    _token("databricks_token", "dapi", r"[a-f0-9]{32}(?:-\d)?+" + _E,
           "⟦dapi0123456789abcdef0123456789abcdef⟧", "dapi client"),
    _token("grafana_token", "glc_ glsa_", r"[A-Za-z0-9_+/=]{32,}+",
           "⟦glsa_abcdefghijklmnopqrstuvwxyz012345_0a1b2c3d⟧", "glsa_x"),
    _token("newrelic_key", "NRAK- NRII- NRJS-", r"[A-Za-z0-9]{27}" + _E,
           "⟦NRAK-ABCDEFGHIJKLMNOPQRSTUVWXYZ0⟧", "NRAK-x"),
    _token("sentry_token", "sntrys_ sntryu_", r"[A-Za-z0-9_=+/]{40,}+",
           "⟦sntrys_" + "eyJ0aW1lIjox" * 4 + "⟧", "sntrys_x"),
    _token("doppler_token", "dp.st. dp.pt. dp.sa. dp.ct.", r"[A-Za-z0-9_.-]{40,}+",
           "⟦dp.st.prd." + "aB3d" * 10 + "⟧", "dp.st.x"),
    _token("pulumi_token", "pul-", r"[a-f0-9]{40}" + _E, "⟦pul-" + "0123456789" * 4 + "⟧",
           "pul-x"),
    _token("huggingface_token", "hf_", r"[A-Za-z0-9]{34,}+", "⟦hf_" + "aB3dE" * 7 + "⟧", "hf_x"),
    Rule("azure_client_secret", r"Q~(?<=(?<![A-Za-z0-9_~.-])(?P<lead>[A-Za-z0-9_~.]{3}\d)Q~)"
         r"[A-Za-z0-9_~.-]{31,34}+(?![A-Za-z0-9_~.-])", ("q~",),
         hits=("⟦abc8Q~abcdefghijklmnopqrstuvwxyz01234⟧",), misses=("Q~ alone",)),
    _token("age_secret_key", "AGE-SECRET-KEY-1", r"[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
           "⟦AGE-SECRET-KEY-1" + "QPZRY9X8GF" * 5 + "2TVDW0S3⟧", "AGE-SECRET-KEY-1"),
    _token("alibaba_key", "LTAI", r"[A-Za-z0-9]{20}" + _E, "⟦LTAI" + "aB3d" * 5 + "⟧", "LTAI"),
    _token("square_token", "sq0atp- sq0csp-", r"[A-Za-z0-9_-]{22,}+",
           "⟦sq0atp-abcdefghijklmnopqrstuv⟧", "sq0atp-"),
    _token("square_token", "EAAA", r"[A-Za-z0-9_-]{60}" + _E, "⟦EAAA" + "aB3dE" * 12 + "⟧",
           "EAAA"),
    _token("facebook_token", "EAA", r"[A-Za-z0-9]{90,}+", "⟦EAAB" + "aB3dE" * 19 + "⟧", "EAA"),
    _token("mapbox_token", "sk.eyJ pk.eyJ", r"[A-Za-z0-9_-]{10,}+\.[A-Za-z0-9_-]{10,}+",
           "⟦sk.eyJ1IjoiZXhhbXBsZSJ9.abcdefghijklmnop⟧", "sk.eyJ"),
    _token("notion_token", "ntn_", r"[A-Za-z0-9]{40,}+", "⟦ntn_" + "aB3dE" * 9 + "⟧", "ntn_x"),
    _token("notion_token", "secret_", r"[A-Za-z0-9]{43}" + _E,
           "⟦secret_" + "aB3dE5fG7hJ" * 3 + "aB3dE5fG7h⟧", "secret_santa"),
    _token("supabase_token", "sbp_", r"[a-f0-9]{40}" + _E, "⟦sbp_" + "0123456789" * 4 + "⟧",
           "sbp_x"),
    _token("planetscale_token", "pscale_tkn_ pscale_pw_ pscale_oauth_", r"[A-Za-z0-9_.-]{32,}+",
           "⟦pscale_pw_" + "aB3d" * 8 + "⟧", "pscale_pw_x"),
    _token("rubygems_key", "rubygems_", r"[a-f0-9]{48}" + _E,
           "⟦rubygems_" + "0123456789abcdef" * 3 + "⟧", "rubygems_org"),
    _token("brevo_key", "xkeysib-", r"[a-f0-9]{64}-[A-Za-z0-9]{16}" + _E,
           "⟦xkeysib-" + "0123456789abcdef" * 4 + "-aB3dE5fG7hJ9kL1m⟧", "xkeysib-x"),
    _token("dynatrace_token", "dt0c01.", r"[A-Z0-9]{24}\.[A-Z0-9]{64}" + _E,
           "⟦dt0c01.ABCDEFGHIJKLMNOPQRSTUVWX." + "0123456789ABCDEF" * 4 + "⟧", "dt0c01.x"),
    _token("jfrog_key", "AKCp", r"[A-Za-z0-9]{69,}+", "⟦AKCp" + "aB3dE" * 14 + "⟧", "AKCp"),
    _token("contentful_token", "CFPAT-", r"[A-Za-z0-9_-]{43}" + _E,
           "⟦CFPAT-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG⟧", "CFPAT-x"),
    _token("shippo_token", "shippo_live_ shippo_test_", r"[a-f0-9]{40}" + _E,
           "⟦shippo_live_" + "0123456789" * 4 + "⟧", "shippo_live_x"),
    _token("flutterwave_key", "FLWSECK- FLWSECK_TEST- FLWPUBK- FLWPUBK_TEST-", r"[a-f0-9]{32}-X",
           "⟦FLWSECK_TEST-0123456789abcdef0123456789abcdef-X⟧", "FLWSECK-x"),
    _token("heroku_key", "HRKU-", r"[A-Za-z0-9_-]{60,}+", "⟦HRKU-" + "aB3dE_" * 11 + "⟧",
           "HRKU-x"),
    _token("nuget_key", "oy2", r"[a-z0-9]{43}" + _E,
           "⟦oy2abcdefghij0123456789abcdefghij0123456789abc⟧", "oy2x"),
    _token("easypost_key", "EZAK EZTK", r"[A-Za-z0-9]{54}" + _E, "⟦EZAK" + "aB3dE5" * 9 + "⟧",
           "EZAK"),
    _token("duffel_token", "duffel_live_ duffel_test_", r"[A-Za-z0-9_=-]{43}" + _E,
           "⟦duffel_test_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG⟧", "duffel_test_x"),
    _token("adafruit_key", "aio_", r"[A-Za-z0-9]{28}" + _E,
           "⟦aio_abcdefghijklmnopqrstuvwxyz01⟧", "aio_read"),
    _token("prefect_key", "pnu_", r"[A-Za-z0-9]{36}" + _E,
           "⟦pnu_abcdefghijklmnopqrstuvwxyz0123456789⟧", "pnu_x"),
    _token("readme_key", "rdme_", r"[a-z0-9]{70}" + _E, "⟦rdme_" + "abcdefghij0123456789" * 3
           + "abcdefghij⟧", "rdme_x"),
    _token("typeform_token", "tfp_", r"[A-Za-z0-9_.=-]{59}" + _E,
           "⟦tfp_" + "aB3dE5fG7h" * 5 + "J9kL1mN3p" + "⟧", "tfp_x"),
    _token("scalingo_token", "tk-us-", r"[A-Za-z0-9_-]{48}" + _E,
           "⟦tk-us-" + "aB3dE5fG" * 6 + "⟧", "tk-us-x"),
    _token("openshift_token", "sha256~", r"[A-Za-z0-9_-]{43}" + _E,
           "⟦sha256~abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG⟧", "sha256~x"),
    # Headers and schemes.
    Rule("auth_header",
         r"(?i)authorization(?<![A-Za-z0-9_]authorization)[\"']?+[ \t]{0,8}+[:=][ \t]{0,8}+[\"']?+"
         r"(?:(?:basic|bearer|token|digest|apikey|api-key|ssws|negotiate|ntlm|hmac|key|sharedkey|"
         r"otp|jwt|oauth|aws4-hmac-sha256)[ \t]++)?+(?P<secret>[^\s\"',;]{4,}+)",
         ("authorization",), validator="not_placeholder",
         hits=("Authorization: Basic ⟦YWRtaW46czNjcjN0⟧", "'Authorization': 'Token ⟦abcdef012345⟧'",
               "authorization: SSWS ⟦00abcdefghijklmnopqrstuvwxyz0123456789AB⟧"),
         misses=("authorization failed for user bob", "Authorization: none")),
    Rule("bearer_token", r"(?i)bearer(?<![\w-]bearer)[ \t]++(?P<secret>[A-Za-z0-9._~+/=-]{8,}+)",
         ("bearer",), validator="random_token",
         hits=("header Bearer ⟦abcdef0123456789abcdef⟧",),
         misses=("Bearer authentication failed", "bearer tokenexpired")),
    Rule("basic_auth", r"(?i)basic(?<![\w-]basic)[ \t]++(?P<secret>[A-Za-z0-9+/]{8,}+={0,2}+)",
         ("basic",), validator="random_token",
         hits=("sent Basic ⟦dXNlcjpwYXNzd29yZDE=⟧ back",), misses=("Basic authentication is off",)),
    Rule("cookie", r"(?i)cookie(?<![A-Za-z0-9_]cookie)[\"']?+[ \t]{0,8}+[:=][ \t]{0,8}+[\"']?+"
         r"(?P<secret>[^\r\n\"']{1,4096}+)", ("cookie",),
         hits=("Cookie: ⟦session=8f2a9b7c; theme=dark⟧", "'Set-Cookie': '⟦sid=abc123; Path=/⟧'"),
         misses=("cookie jar is empty",)),
    Rule("connection_string",
         r"://(?<=[A-Za-z0-9]://)(?P<user>[^\s/:@?#\"'<>]{0,128}+):"
         r"(?P<secret>[^\s@:\"'<>]{1,256}+)@", ("://",), validator="url_password",
         hits=("FATAL postgresql://app:⟦s3cr3t⟧@db:5432/x", "redis://:⟦p4ss⟧@cache:6379",
               "amqp://guest:⟦pa/ss⟧@mq/vhost"),
         misses=("GET http://example.com:8080/users/@me", "see https://example.com/a")),
    Rule("url_token", r"://(?<=[A-Za-z0-9]://)"
         r"(?P<secret>[^\s/:@?#\"'<>]{16,512}+)@", ("://",), validator="random_token",
         hits=("dsn https://⟦0123456789abcdef0123456789abcdef⟧@o1.ingest.sentry.io/2",),
         misses=("ssh://git-user-for-builds@host/repo",)),
    Rule("cli_credentials", r"-(?<![\w-]-)(?:u|-user|-proxy-user)[ \t=]++[\"']?+"
         r"(?P<user>[^\s:\"']{1,128}+):(?P<secret>[^\s\"']{1,512}+)", ("-u", "--user", "-user"),
         hits=("curl -u admin:⟦hunter22⟧ https://x",), misses=("curl -u admin https://x",)),
    Rule("cli_password", r"-p(?<![\w-]-p)(?:[ \t]++)?+"
         r"(?P<secret>\"[^\"\n]{1,512}+\"|'[^'\n]{1,512}+'"
         r"|[^\s\"'-][^\s\"']{0,511}+)", ("mysql", "mariadb", "sshpass"),
         hits=("mysql -u root -p⟦Sup3rS3cret⟧ orders", "sshpass -p ⟦'hunter2'⟧ ssh host"),
         misses=("mysql -u root orders",)),
    # A command-line flag takes its value after a space ("--password x"); elsewhere a space
    # after a key word separates no value ("password authentication failed").
    Rule("secret_assignment", r"-(?<![\w-]-)-?+(?P<name>[A-Za-z][\w.-]{0,40}+)[ \t]++"
         r"(?P<secret>\"(?:[^\"\\\n]|\\.){1,1024}+\"|'[^'\n]{1,1024}+'|[^\s\"'-][^\s\"']{0,1023}+)",
         KEY_WORDS, validator="secret_under_key",
         hits=("exec: app --password ⟦hunter2⟧ --verbose", "deploy -token ⟦a1b2c3d4e5f6g7h8⟧"),
         misses=("run --verbose --password-file /etc/pw", "--token expired")),
    Rule("xml_secret", r"<(?P<name>[\w:.\-]{1,64}+)(?:[ \t][^<>\n]{0,256}+)?+>"
         r"(?P<secret>[^<\n]{1,2048}+)</", ("</",), validator="secret_under_key",
         hits=("<db><password>⟦hunter2⟧</password></db>",
               "<ns:clientSecret>⟦abc⟧</ns:clientSecret>"),
         misses=("<user>bob</user>", "<password_policy>strict</password_policy>")),
    Rule("config_secret", r"(?i)key[ \t]{0,8}+=[ \t]{0,8}+\"(?P<name>[^\"\n]{1,64}+)\"[ \t]++"
         r"value[ \t]{0,8}+=[ \t]{0,8}+\"(?P<secret>[^\"\n]{1,2048}+)\"", ("value",),
         validator="secret_under_key",
         hits=('<add key="ApiKey" value="⟦abc123⟧"/>',),
         misses=('<add key="Timeout" value="30"/>',)),
    Rule("secret_assignment", "", finder="key_value",
         hits=("DB_PASSWORD=⟦hunter2⟧", "dbPassword: ⟦hunter2⟧", "db.password = ⟦hunter2⟧",
               '"clientSecret": "⟦a b&c\\"d⟧"', '{\\"secretAccessKey\\":\\"⟦wJalr XUtn⟧\\"}',
               "X-Api-Key: ⟦abc123⟧", "?api_key=⟦abc123⟧&page=2", "--password=⟦hunter2⟧",
               "passphrase=⟦correct⟧", "GITHUB_TOKEN=⟦a1b2c3d4e5f6g7h8⟧", "sig=⟦aB3dE5fG7hJ9kL1m⟧",
               "AccountKey=⟦aB3d/E5f+G7h==⟧;", "비밀번호: ⟦hunter2⟧", "토큰=⟦aB3dE5fG7hJ9kL1m⟧",
               "암호=⟦qwerty⟧", "주민등록번호: ⟦9001011234567⟧"),
         misses=("password authentication failed for user x", "token expired",
                 "invalid token: expired", "password_min_length=8", "PWD=/home/app",
                 "sessionid: 0x34ed9ac1c10000", "password=${DB_PASSWORD}", "cache key=user:42")),
    Rule("email", r"(?<![\w.+%-])[A-Za-z0-9._%+-]{1,64}+@(?P<domain>[A-Za-z0-9-]{1,63}+"
         r"(?:\.[A-Za-z0-9-]{1,63}+){1,8}+)", ("@",), validator="email_domain",
         hits=("bounce for ⟦alice.smith@example.com⟧ after 3", "⟦kim+tag@mail.co.kr⟧"),
         misses=("ServerCnxn@1001", "user@host", "x@10.0.0.1")),
    # The numeric rules run on every text: each starts with a character class and checks the
    # character before it afterwards (a two-character look-behind), so the scan skips
    # non-candidates fast.
    Rule("card_number", r"(?:4|5(?=[1-5])|2(?=[2-7])|3(?=[04-9])|6(?=011|5))(?<![\w.+-].)\d{3}"
         r"(?:\d{9,15}+|(?P<sep>[ .-])(?:\d{4}(?P=sep)\d{4}(?P=sep)\d{4}(?:(?P=sep)\d{1,3})?"
         r"|\d{6}(?P=sep)\d{4,5}+))(?!\d)", (), validator="luhn",
         hits=("card ⟦4111 1111 1111 1111⟧ declined", "⟦5500-0000-0000-0004⟧",
               "⟦3782.822463.10005⟧", "카드번호 ⟦4111.1111.1111.1111⟧"),
         misses=("order 4111 1111 1111 1112", "blk_-4111111111111111")),
    Rule("resident_registration_number",
         r"\d(?<![\w.+-].)\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]) ?+- ?+[1-8]\d{6}(?!\d)",
         ("-",),
         hits=("주민등록번호 ⟦900101-1234567⟧ 확인", "rrn ⟦851231 - 2345678⟧"),
         misses=("build 900101-12345", "2026-12-07")),
    Rule("phone_number",
         r"[+0](?<![\w.+:-].)(?:(?<=\+)82[ .-]?+(?:\(0\))?+1[016789]|(?<=0)1[016789])"
         r"(?:-\d{3,4}-\d{4}|\.\d{3,4}\.\d{4}| \d{3,4} \d{4}|\d{7,8})(?!\d)"
         r"|[+0](?<![\w.+:-].)(?:(?<=\+)82[ .-]?+|(?<=0))(?:2|[3-6][1-5])[ .-]\d{3,4}[ .-]\d{4}"
         r"(?!\d)", (),
         hits=("연락처 ⟦010-1234-5678⟧", "call ⟦+82 10 1234 5678⟧", "⟦01098765432⟧",
               "tel ⟦02-123-4567⟧"),
         misses=("port 8010 pid 1234", "order 0101-2026", "081110 010937 1234")),
]
