//! What the large mailbox providers do with addresses, and which local parts name a role
//! rather than a person. Kept as short lists on purpose: an entry here changes which
//! addresses count as the same person, so each one must be a documented provider behaviour.

/// Gmail's canonical domain; `googlemail.com` is the same mailbox namespace.
pub(crate) const GMAIL: &str = "gmail.com";

/// Domains that are Gmail: dots in the local part are ignored and everything from a `+` on
/// is a tag, so `j.doe+crm@googlemail.com` is delivered to `jdoe@gmail.com`. Google
/// Workspace domains (a company's own domain on Gmail) keep their dots, so they are not here.
pub(crate) fn is_gmail(domain: &str) -> bool {
    matches!(domain, "gmail.com" | "googlemail.com")
}

/// Consumer providers documented to deliver `name+tag@` to `name@` (plus addressing):
/// Outlook.com and its older domains, iCloud, Fastmail and Proton. Their dots stay
/// significant. Elsewhere a `+` may be part of the mailbox's real name, so the tag is kept.
pub(crate) fn drops_plus_tags(domain: &str) -> bool {
    matches!(
        domain,
        "outlook.com"
            | "hotmail.com"
            | "live.com"
            | "msn.com"
            | "icloud.com"
            | "me.com"
            | "mac.com"
            | "fastmail.com"
            | "fastmail.fm"
            | "proton.me"
            | "protonmail.com"
            | "pm.me"
    )
}

/// Domains where anyone can open a mailbox: an address there says nothing about the
/// person's employer, so its domain is never taken as a company domain.
pub(crate) fn is_personal_mail_domain(domain: &str) -> bool {
    is_gmail(domain)
        || drops_plus_tags(domain)
        || matches!(
            domain,
            "yahoo.com"
                | "yahoo.co.uk"
                | "yahoo.fr"
                | "yahoo.de"
                | "ymail.com"
                | "hotmail.co.uk"
                | "hotmail.fr"
                | "hotmail.de"
                | "outlook.de"
                | "aol.com"
                | "gmx.de"
                | "gmx.net"
                | "gmx.com"
                | "web.de"
                | "t-online.de"
                | "orange.fr"
                | "free.fr"
                | "laposte.net"
                | "libero.it"
                | "mail.ru"
                | "yandex.ru"
                | "yandex.com"
                | "qq.com"
                | "163.com"
                | "126.com"
                | "naver.com"
                | "comcast.net"
                | "btinternet.com"
                | "zoho.com"
                | "tutanota.com"
                | "hey.com"
        )
}

/// Local parts that name a function shared by several people (`info@`, `sales@`), so that
/// two records with the same one need not be the same person.
pub(crate) fn is_role_local_part(local: &str) -> bool {
    matches!(
        local,
        "info"
            | "contact"
            | "hello"
            | "office"
            | "admin"
            | "sales"
            | "support"
            | "help"
            | "service"
            | "team"
            | "billing"
            | "accounts"
            | "accounting"
            | "finance"
            | "marketing"
            | "hr"
            | "jobs"
            | "careers"
            | "enquiries"
            | "inquiries"
            | "orders"
            | "press"
            | "mail"
            | "webmaster"
            | "postmaster"
            | "noreply"
            | "no-reply"
    )
}
