import type { INodeProperties } from 'n8n-workflow';

/** Turn a JSON parameter (an object, or text typed into the editor) into an object. */
export const PARSE_JSON_VALUE = '={{ typeof $value === "string" ? JSON.parse($value) : $value }}';

/** Send nothing rather than an empty string, so Tiergate applies its own default. */
export const OMIT_IF_EMPTY = '={{ $value === "" ? undefined : $value }}';

export const taskTypeField: INodeProperties = {
	displayName: 'Task Type Name or ID',
	name: 'taskType',
	type: 'options',
	typeOptions: { loadOptionsMethod: 'getTaskTypes' },
	default: '',
	description:
		'A task type of the Tiergate policy, or none to let Tiergate work it out. Choose from the list, or specify an ID using an <a href="https://docs.n8n.io/code/expressions/">expression</a>.',
	routing: { send: { type: 'body', property: 'task_type', value: OMIT_IF_EMPTY } },
};

export const textField: INodeProperties = {
	displayName: 'Text',
	name: 'text',
	type: 'string',
	typeOptions: { rows: 4 },
	default: '',
	required: true,
	description:
		'The input for the model, usually an expression that picks a field of the incoming item',
	routing: { send: { type: 'body', property: 'text' } },
};

export const riskField: INodeProperties = {
	displayName: 'Risk',
	name: 'risk',
	type: 'options',
	options: [
		{ name: 'Low', value: 'low' },
		{ name: 'Medium', value: 'medium' },
		{ name: 'High', value: 'high', description: 'At least tier2, and always held for review' },
	],
	default: 'low',
	description: 'How much harm a wrong answer does',
	routing: { send: { type: 'body', property: 'risk' } },
};

export const externalField: INodeProperties = {
	displayName: 'External',
	name: 'external',
	type: 'boolean',
	default: false,
	description:
		'Whether the output goes to a customer. External output is always held for review before it is sent.',
	routing: { send: { type: 'body', property: 'external' } },
};

export const metadataOption: INodeProperties = {
	displayName: 'Metadata',
	name: 'metadata',
	type: 'json',
	default: '{}',
	description: 'Your own fields (workflow ID, row ID), stored with the request and echoed back',
	routing: { send: { type: 'body', property: 'metadata', value: PARSE_JSON_VALUE } },
};

export const idempotencyKeyOption: INodeProperties = {
	displayName: 'Idempotency Key',
	name: 'idempotencyKey',
	type: 'string',
	default: '',
	placeholder: 'e.g. crm-cleanup-row-42',
	description:
		'Sent as the Idempotency-Key header: a retried request with the same key gets the first answer instead of paying twice',
	routing: { request: { headers: { 'Idempotency-Key': '={{ $value || undefined }}' } } },
};

export const simplifyField: INodeProperties = {
	displayName: 'Simplify',
	name: 'simplify',
	type: 'boolean',
	default: true,
	description:
		'Whether to return a simplified version of the response instead of the raw data (the output, status, review and cost fields, without the attempts)',
};
