package pubsub

import (
	"fmt"
	"slices"
	"strconv"

	"parley.im/parley/storage"
)

// Access models (XEP-0060 §4.5) and publish models.
const (
	AccessOpen      = "open"
	AccessPresence  = "presence"
	AccessRoster    = "roster"
	AccessWhitelist = "whitelist"
	AccessAuthorize = "authorize" // not supported

	PublishPublishers  = "publishers"
	PublishSubscribers = "subscribers"
	PublishOpen        = "open"

	SendNever             = "never"
	SendOnSub             = "on_sub"
	SendOnSubAndPresence  = "on_sub_and_presence"
	notificationHeadline  = "headline"
	notificationNormal    = "normal"
	maxTextField          = 1024 // bytes of a title, description or type
	maxRosterGroupsInForm = 100
)

// configField is one pubsub#node_config field: how it reads from and
// writes to a configuration. set reports a value the field does not take
// with an error whose text says why.
type configField struct {
	v, typ, label string
	options       []string
	get           func(c *storage.PubSubConfig, maxItems int) []string
	set           func(c *storage.PubSubConfig, vals []string, maxItems int) error
}

func one(vals []string) (string, error) {
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
		return vals[0], nil
	}
	return "", fmt.Errorf("takes one value, got %d", len(vals))
}

func boolField(v, label string, p func(c *storage.PubSubConfig) *bool) configField {
	return configField{v: v, typ: "boolean", label: label,
		get: func(c *storage.PubSubConfig, _ int) []string {
			if *p(c) {
				return []string{"true"}
			}
			return []string{"false"}
		},
		set: func(c *storage.PubSubConfig, vals []string, _ int) error {
			s, err := one(vals)
			if err != nil {
				return err
			}
			switch s {
			case "1", "true":
				*p(c) = true
			case "0", "false":
				*p(c) = false
			default:
				return fmt.Errorf("%q is not a boolean", s)
			}
			return nil
		}}
}

func textField(v, label string, p func(c *storage.PubSubConfig) *string) configField {
	return configField{v: v, typ: "text-single", label: label,
		get: func(c *storage.PubSubConfig, _ int) []string {
			if *p(c) == "" {
				return nil
			}
			return []string{*p(c)}
		},
		set: func(c *storage.PubSubConfig, vals []string, _ int) error {
			s, err := one(vals)
			if err != nil {
				return err
			}
			if len(s) > maxTextField {
				return fmt.Errorf("longer than %d bytes", maxTextField)
			}
			*p(c) = s
			return nil
		}}
}

func listField(v, label string, options []string, p func(c *storage.PubSubConfig) *string) configField {
	return configField{v: v, typ: "list-single", label: label, options: options,
		get: func(c *storage.PubSubConfig, _ int) []string { return []string{*p(c)} },
		set: func(c *storage.PubSubConfig, vals []string, _ int) error {
			s, err := one(vals)
			if err != nil {
				return err
			}
			if !slices.Contains(options, s) {
				return fmt.Errorf("%q is not one of %q", s, options)
			}
			*p(c) = s
			return nil
		}}
}

// configFields are the node configuration options, in the order of the
// configuration form.
var configFields = []configField{
	textField("pubsub#title", "A friendly name for the node", func(c *storage.PubSubConfig) *string { return &c.Title }),
	textField("pubsub#description", "A description of the node", func(c *storage.PubSubConfig) *string { return &c.Description }),
	textField("pubsub#type", "The semantic type of the payloads, usually their namespace",
		func(c *storage.PubSubConfig) *string { return &c.Type }),
	listField("pubsub#access_model", "Who may subscribe and retrieve items",
		[]string{AccessOpen, AccessPresence, AccessRoster, AccessWhitelist},
		func(c *storage.PubSubConfig) *string { return &c.AccessModel }),
	{v: "pubsub#roster_groups_allowed", typ: "list-multi", label: "The roster groups allowed to subscribe and retrieve items",
		get: func(c *storage.PubSubConfig, _ int) []string { return slices.Clone(c.RosterGroups) },
		set: func(c *storage.PubSubConfig, vals []string, _ int) error {
			if len(vals) > maxRosterGroupsInForm {
				return fmt.Errorf("more than %d groups", maxRosterGroupsInForm)
			}
			groups := slices.Clone(vals)
			slices.Sort(groups)
			groups = slices.Compact(groups)
			for _, g := range groups {
				if g == "" || len(g) > maxTextField {
					return fmt.Errorf("a group name is empty or longer than %d bytes", maxTextField)
				}
			}
			if len(groups) == 0 {
				groups = nil
			}
			c.RosterGroups = groups
			return nil
		}},
	listField("pubsub#publish_model", "Who may publish",
		[]string{PublishPublishers, PublishSubscribers, PublishOpen},
		func(c *storage.PubSubConfig) *string { return &c.PublishModel }),
	{v: "pubsub#max_items", typ: "text-single", label: "The most items to keep, `max` for the server's limit",
		get: func(c *storage.PubSubConfig, _ int) []string { return []string{strconv.Itoa(c.MaxItems)} },
		set: func(c *storage.PubSubConfig, vals []string, maxItems int) error {
			s, err := one(vals)
			if err != nil {
				return err
			}
			if s == "max" {
				c.MaxItems = maxItems
				return nil
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > maxItems {
				return fmt.Errorf("%q is not a number from 1 to %d, nor max", s, maxItems)
			}
			c.MaxItems = n
			return nil
		}},
	boolField("pubsub#persist_items", "Whether to keep items", func(c *storage.PubSubConfig) *bool { return &c.PersistItems }),
	listField("pubsub#send_last_published_item", "When to send the last published item",
		[]string{SendNever, SendOnSub, SendOnSubAndPresence},
		func(c *storage.PubSubConfig) *string { return &c.SendLastPublishedItem }),
	boolField("pubsub#deliver_notifications", "Whether to deliver event notifications",
		func(c *storage.PubSubConfig) *bool { return &c.DeliverNotifications }),
	boolField("pubsub#deliver_payloads", "Whether to deliver payloads with event notifications",
		func(c *storage.PubSubConfig) *bool { return &c.DeliverPayloads }),
	boolField("pubsub#notify_config", "Whether to notify subscribers when the configuration changes",
		func(c *storage.PubSubConfig) *bool { return &c.NotifyConfig }),
	boolField("pubsub#notify_delete", "Whether to notify subscribers when the node is deleted",
		func(c *storage.PubSubConfig) *bool { return &c.NotifyDelete }),
	boolField("pubsub#notify_retract", "Whether to notify subscribers when items are removed",
		func(c *storage.PubSubConfig) *bool { return &c.NotifyRetract }),
	boolField("pubsub#notify_sub", "Whether to notify the owner of new subscribers and unsubscribes",
		func(c *storage.PubSubConfig) *bool { return &c.NotifySub }),
	listField("pubsub#notification_type", "The type of notification messages",
		[]string{notificationNormal, notificationHeadline},
		func(c *storage.PubSubConfig) *string { return &c.NotificationType }),
}

func fieldByVar(v string) (configField, bool) {
	for _, f := range configFields {
		if f.v == v {
			return f, true
		}
	}
	return configField{}, false
}

// configForm renders a configuration as a pubsub#node_config form of the
// given type; groups are offered as the options of roster_groups_allowed.
func configForm(c storage.PubSubConfig, typ string, maxItems int, groups []string) formBuilder {
	b := newForm(typ, NSNodeConfig)
	for _, f := range configFields {
		options := f.options
		if f.v == "pubsub#roster_groups_allowed" {
			options = groups
		}
		b.field(f.v, f.typ, f.label, f.get(&c, maxItems), options)
	}
	return b
}

// applyConfig sets the fields of a submitted node_config form on c.
// Fields it does not know are left alone (a client may send back fields
// some other server offered), but a value a known field does not take
// fails the whole form.
func applyConfig(c storage.PubSubConfig, f *form, maxItems int) (storage.PubSubConfig, error) {
	for _, v := range f.vars {
		field, ok := fieldByVar(v)
		if !ok {
			continue
		}
		if err := field.set(&c, f.values[v], maxItems); err != nil {
			return c, fmt.Errorf("%s: %w", v, err)
		}
	}
	return c, nil
}

// preconditions checks the publish-options of XEP-0060 §7.1.5 against c:
// every field must be known and its value the configured one. It returns
// the first field that differs, with why.
func preconditions(c storage.PubSubConfig, f *form, maxItems int) error {
	for _, v := range f.vars {
		field, ok := fieldByVar(v)
		if !ok {
			return fmt.Errorf("%s is not a known option", v)
		}
		want := c
		if err := field.set(&want, f.values[v], maxItems); err != nil {
			return fmt.Errorf("%s: %w", v, err)
		}
		if !slices.Equal(field.get(&want, maxItems), field.get(&c, maxItems)) {
			return fmt.Errorf("%s is %q, not %q", v, field.get(&c, maxItems), f.values[v])
		}
	}
	return nil
}
