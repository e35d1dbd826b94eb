import type { INodeProperties } from 'n8n-workflow';
import {
	externalField,
	metadataOption,
	riskField,
	taskTypeField,
	textField,
} from '../../shared/descriptions';

const showOnlyForRoute = {
	resource: ['task'],
	operation: ['route'],
};

export const routeDescription: INodeProperties[] = [
	{ ...textField, displayOptions: { show: showOnlyForRoute } },
	{ ...taskTypeField, displayOptions: { show: showOnlyForRoute } },
	{
		displayName: 'Options',
		name: 'routeOptions',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		displayOptions: { show: showOnlyForRoute },
		options: [
			{ ...riskField },
			{ ...externalField },
			{
				displayName: 'Routing Mode',
				name: 'mode',
				type: 'options',
				options: [
					{
						name: 'Rules',
						value: 'rules',
						description: 'The policy table only, no model call',
					},
					{
						name: 'Learned',
						value: 'learned',
						description: 'A small local model, no model call (what Tiergate uses when no mode and no task type are sent)',
					},
					{
						name: 'LLM',
						value: 'llm',
						description: 'A tier1 model reads the request against the rubric',
					},
					{
						name: 'Hybrid',
						value: 'hybrid',
						description: 'Rules first, then the learned model, the LLM router only where both are unsure',
					},
				],
				default: 'rules',
				routing: { send: { type: 'body', property: 'mode' } },
			},
			{ ...metadataOption },
		],
	},
];
