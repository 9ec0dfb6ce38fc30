//! The SLA engine, one for leads and tickets: business-hours calendars, versioned policies
//! and clocks that activate, pause, resume, fulfil and breach at exact instants.
