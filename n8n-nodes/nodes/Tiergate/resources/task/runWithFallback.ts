import type { INodeProperties } from 'n8n-workflow';
import {
	externalField,
	idempotencyKeyOption,
	metadataOption,
	OMIT_IF_EMPTY,
	PARSE_JSON_VALUE,
	riskField,
	simplifyField,
	taskTypeField,
	textField,
} from '../../shared/descriptions';

const showOnlyForRunWithFallback = {
	resource: ['task'],
	operation: ['runWithFallback'],
};

export const runWithFallbackDescription: INodeProperties[] = [
	{ ...taskTypeField, displayOptions: { show: showOnlyForRunWithFallback } },
	{ ...textField, displayOptions: { show: showOnlyForRunWithFallback } },
	{ ...riskField, displayOptions: { show: showOnlyForRunWithFallback } },
	{ ...externalField, displayOptions: { show: showOnlyForRunWithFallback } },
	{ ...simplifyField, displayOptions: { show: showOnlyForRunWithFallback } },
	{
		displayName: 'Options',
		name: 'fallbackOptions',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		displayOptions: { show: showOnlyForRunWithFallback },
		options: [
			{
				displayName: 'Callback URL',
				name: 'callbackUrl',
				type: 'string',
				default: '',
				placeholder: 'e.g. {{ $execution.resumeUrl }}',
				description:
					'Where Tiergate POSTs the finished job or the review decision. Use {{ $execution.resumeUrl }} with a Wait node set to "On Webhook Call".',
				routing: { send: { type: 'body', property: 'callback_url', value: OMIT_IF_EMPTY } },
			},
			{
				displayName: 'Execution',
				name: 'exec',
				type: 'options',
				options: [
					{
						name: 'Wait for the Answer',
						value: 'sync',
						description: 'Answer in the same request (up to the server bound)',
					},
					{
						name: 'Queue It',
						value: 'async',
						description:
							'Answer at once with a job ID; get the result with Get Job or the callback',
					},
				],
				default: 'sync',
				routing: { send: { type: 'body', property: 'exec' } },
			},
			{ ...idempotencyKeyOption },
			{
				displayName: 'Job Timeout (Seconds)',
				name: 'jobTimeoutSeconds',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 900,
				description:
					'How long to wait when Tiergate queues the task because it outlasted its sync bound (not with Queue It)',
			},
			{
				displayName: 'Max Cost (USD)',
				name: 'maxCostUsd',
				type: 'number',
				typeOptions: { minValue: 0, numberPrecision: 4 },
				default: 0.05,
				description: 'Spend cap for this task, escalations included',
				routing: { send: { type: 'body', property: 'max_cost_usd' } },
			},
			{ ...metadataOption },
			{
				displayName: 'Output Schema',
				name: 'outputSchema',
				type: 'json',
				default: '{\n  "type": "object",\n  "properties": {},\n  "required": []\n}',
				description:
					'A JSON Schema the answer must match. The output is then an object and a mismatch counts as a failed check.',
				routing: { send: { type: 'body', property: 'output_schema', value: PARSE_JSON_VALUE } },
			},
		],
	},
];
